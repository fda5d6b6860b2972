#!/bin/bash
# newmkfs.sh makes testdata/newmkfs-*.img.zst: XFS images of the layouts
# a newer mkfs.xfs than Debian 12's makes (xfsprogs 6.13 and later, as
# Debian 13 and Fedora ship: rmapbt and nrext64 on by default; parent
# pointers, the metadata directory tree, exchange-range, quota inodes in
# the metadata directory), filled through the host's loop mount with a
# small tree of every shape, then the tree the host shows of each,
# recorded by TestNewMkfsImages (LKLIMG_XFS_RECORD=1) as
# newmkfs-*.tree.json.zst. The test then needs neither the new mkfs.xfs
# nor a loop mount. Not the same bytes on each run (UUIDs, times): the
# images are committed, this says how they were made.
#
# Usage (root, loop devices): MKFS=/path/to/mkfs.xfs testdata/newmkfs.sh [NAME...]
# makes the images named (all without a name: defaults, parent-metadir,
# 1k-nrext64-0), then records every image's tree (bui.sh's too). The
# parent pointers of parent-metadir's thousands of hard links make it
# slow: ten minutes.
set -eu
mkfs=${MKFS:-mkfs.xfs}
"$mkfs" -V
dir=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d); trap 'umount -q "$w/m" 2>/dev/null || true; rm -rf "$w"' EXIT
mkdir "$w/m"

fill() {
  local m=$1 i
  mkdir "$m/d"
  # Directories of each form (shortform, block, leaf, node), their
  # names hard links to one file: few inodes, a small image.
  echo one >"$m/d/one"
  for n in 3 40 400 1000; do
    mkdir "$m/d/dir-$n"
    echo "$n" >"$m/d/dir-$n/entry-0"
    for i in $(seq 1 $n); do ln "$m/d/one" "$m/d/dir-$n/entry-$i-$(printf '%*s' $((i % 29)) '' | tr ' ' x)"; done
  done
  mkdir "$m/d/thinned"
  for i in $(seq 1 1200); do ln "$m/d/one" "$m/d/thinned/f$i"; done
  for i in $(seq 1 1200); do [ $((i % 7)) -eq 0 ] || rm "$m/d/thinned/f$i"; done
  # One extent per 4 KiB written, every other block: a bmap btree.
  args=(); for o in $(seq 0 8192 4000000); do args+=(-c "pwrite -q -S $((o / 8192 % 251)) $o 4096"); done
  xfs_io -f "${args[@]}" "$m/d/fragmented" >/dev/null
  cp --reflink=always "$m/d/fragmented" "$m/d/reflinked"
  xfs_io -c "pwrite -q -S 0x77 40960 8192" "$m/d/reflinked" >/dev/null
  xfs_io -f -c "falloc 0 1m" -c "pwrite -q 300000 21" -c "falloc -k 1m 1m" "$m/d/unwritten" >/dev/null
  xfs_io -f -c "pwrite -q 0 4" -c "pwrite -q 50m 4" "$m/d/sparse" >/dev/null
  seq 1 20000 >"$m/d/seq"
  ln "$m/d/seq" "$m/d/seq-link1"
  ln "$m/d/seq" "$m/d/dir-40/seq-link2"
  ln -s short "$m/d/link-short"
  ln -s "$(printf 'long/%.0s' $(seq 1 200))end" "$m/d/link-long"
  mknod "$m/d/char" c 1 3
  mknod "$m/d/block" b 7 9
  mkfifo "$m/d/fifo"
  echo few >"$m/d/attrs-few"
  setfattr -n user.a -v small "$m/d/attrs-few"
  setfattr -n trusted.t -v "trusted value" "$m/d/attrs-few"
  setfattr -n security.s -v "security value" "$m/d/attrs-few"
  echo many >"$m/d/attrs-many"
  for i in $(seq 1 300); do setfattr -n "user.attr-$i" -v "value-$i-$(printf '%*s' $((i % 40)) '' | tr ' ' v)" "$m/d/attrs-many"; done
  echo remote >"$m/d/attrs-remote"
  setfattr -n user.r3000 -v "$(head -c 3000 /dev/zero | tr '\0' r)" "$m/d/attrs-remote"
  head -c 65536 /dev/zero | tr '\0' h >"$w/huge"
  setfattr -n user.huge -v "$(cat "$w/huge")" "$m/d/attrs-remote"
  setfacl -m u:1234:rwx,g:55:r "$m/d/attrs-few"
  setfacl -d -m u:1234:rx "$m/d/dir-40"
  chown 1000:1000 "$m/d/dir-3"
  chmod 4755 "$m/d/seq"
  mv "$m/d/dir-40/entry-1-x" "$m/d/dir-400/renamed"
}

image() {
  local name=$1; shift
  truncate -s 300M "$w/$name.img"
  "$mkfs" -q -f "$@" "$w/$name.img"
  mount -o loop "$w/$name.img" "$w/m"
  fill "$w/m"
  umount "$w/m"
  zstd -q -19 -f "$w/$name.img" -o "$dir/newmkfs-$name.img.zst"
  ls -l "$dir/newmkfs-$name.img.zst" >&2
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; }
name=defaults; if want "$@"; then image $name; fi
name=parent-metadir; if want "$@"; then image $name -n parent=1 -m metadir=1,uquota,pquota -i exchange=1; fi
name=1k-nrext64-0; if want "$@"; then image $name -b size=1024 -i nrext64=0; fi

cd "$dir/.." && LKLIMG_XFS_RECORD=1 go test -count=1 -run TestNewMkfsImages .
