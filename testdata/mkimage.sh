#!/bin/sh
# mkimage.sh makes testdata/small.ext4, the 256 KiB ext4 image of the README's
# quick start (fs2tar testdata/small.ext4 | tar -tvf -), bit for bit the same
# on every run and every host:
#
#   - the UUID and the directory hash seed are fixed (-U, -E hash_seed);
#   - e2fsprogs takes "now" from E2FSPROGS_FAKE_TIME (SOURCE_DATE_EPOCH);
#   - the tree is built with debugfs commands in a fixed order, not with
#     mkfs.ext4 -d, whose inode numbers follow the host's readdir order and
#     whose owners and times come from the host files;
#   - every inode then gets fixed owners, mode and times (sif).
#
# Usage: testdata/mkimage.sh [OUT]   (default: testdata/small.ext4)
# Needs mke2fs and debugfs (e2fsprogs); no root.
set -eu
out=${1:-$(dirname "$0")/small.ext4}
epoch=${SOURCE_DATE_EPOCH:-1700000000}
uuid=6c6b6c69-6d67-4000-8000-736d616c6c21
export E2FSPROGS_FAKE_TIME=$epoch
PATH=$PATH:/usr/sbin:/sbin

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'small\n' >"$tmp/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' >"$tmp/passwd"
printf '#!/bin/sh\necho "hello from inside an image"\n' >"$tmp/hello"
printf 'This file lives in testdata/small.ext4.\n' >"$tmp/readme"

rm -f "$out"
truncate -s 256K "$out"
mke2fs -q -F -t ext4 -b 1024 -N 32 -m 0 -L small -U "$uuid" \
	-E "hash_seed=$uuid,root_owner=0:0" -O ^has_journal "$out" 256

# Each entry: debugfs command to make it, then its mode, uid, gid.
{
	echo "mkdir etc"
	echo "mkdir usr"
	echo "mkdir usr/bin"
	echo "mkdir home"
	echo "mkdir home/user"
	echo "write $tmp/hostname etc/hostname"
	echo "write $tmp/passwd etc/passwd"
	echo "write $tmp/hello usr/bin/hello"
	echo "write $tmp/readme home/user/README"
	echo "symlink bin usr/bin"
	echo "symlink etc/localtime /usr/share/zoneinfo/UTC"
	# a second name for README: a hard link (ln does not count links)
	echo "ln home/user/README home/user/README.link"
	echo "sif home/user/README links_count 2"
	echo "ea_set home/user/README user.comment hello"
	echo "ea_set usr/bin/hello security.selinux system_u:object_r:bin_t:s0"
	for e in ".:040755:0:0" "lost+found:040700:0:0" "etc:040755:0:0" \
		"usr:040755:0:0" "usr/bin:040755:0:0" "home:040755:0:0" \
		"home/user:040750:1000:1000" "etc/hostname:0100644:0:0" \
		"etc/passwd:0100644:0:0" "usr/bin/hello:0100755:0:0" \
		"home/user/README:0100640:1000:1000" "bin:0120777:0:0" \
		"etc/localtime:0120777:0:0"; do
		p=${e%%:*} rest=${e#*:}
		mode=${rest%%:*} rest=${rest#*:}
		uid=${rest%%:*} gid=${rest#*:}
		for f in "mode $mode" "uid $uid" "gid $gid" "atime @$epoch" \
			"mtime @$epoch" "ctime @$epoch" "crtime @$epoch"; do
			echo "sif $p $f"
		done
	done
} >"$tmp/cmds"
debugfs -w -f "$tmp/cmds" "$out" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
if grep -i -e error -e invalid -e "not found" -e usage "$tmp/log" >&2; then
	exit 1
fi
e2fsck -fn "$out" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
