#!/bin/bash
# progs.sh makes testdata/progs-*.img.zst: btrfs images made by the
# newest btrfs-progs' mkfs.btrfs (v6.19 when they were made; Debian 12's
# 6.2 cannot make them), with what it makes that older ones do not
# (block-group-tree, squota, --subvol, --inode-flags, --compress,
# --shrink), several devices (raid5 data over three, raid10 over four)
# filled through the host's mount, and a log tree over the newest
# features; then it runs the test with BTRFS_RECORD=1, which records
# testdata/progs-*.json.gz, what the host kernel shows of each (of the
# log image: once the host replayed it). Not the same bytes on each
# run (uuids, times): the images are committed, this says how they were
# made.
#
# Usage (root, loop devices): MKFS=/path/to/mkfs.btrfs BTRFS=/path/to/btrfs \
#   kernel/fs/btrfs/testdata/progs.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkfs=${MKFS:-mkfs.btrfs}
btrfs=${BTRFS:-btrfs}
w=$(mktemp -d)
loops=()
cleanup() {
  umount -q "$w/m" 2>/dev/null || true
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$w"
}
trap cleanup EXIT
mkdir "$w/m" "$w/src"

# The source tree: inline and regular files, text and random data, a
# sparse file, hard links, symlinks, a fifo and devices, xattrs (one of
# 3000 bytes), a directory of 100 names.
s=$w/src
mkdir -p "$s/d/sub" "$s/many" "$s/sv/in" "$s/rosv" "$s/nocow" "$s/nosum"
for n in 0 1 100 2048 4095 4096 4097 70000; do
  seq 1 100000 | head -c $n >"$s/d/text-$n"
done
head -c 6000 /dev/urandom >"$s/d/random"
truncate -s 3M "$s/d/sparse"; printf tail | dd of="$s/d/sparse" bs=1 seek=2000000 conv=notrunc 2>/dev/null
ln "$s/d/text-100" "$s/d/sub/link1"; ln "$s/d/text-100" "$s/link2"
ln -s d/text-1 "$s/sym"; ln -s "$(printf 'x%.0s' $(seq 1 300))" "$s/d/longsym"
mkfifo "$s/d/fifo"; mknod "$s/d/null" c 1 3
setfattr -n user.short -v v "$s/d/text-1"
setfattr -n user.long -v "$(head -c 3000 /dev/zero | tr '\0' x)" "$s/d/text-4096"
for i in $(seq 1 100); do echo $i >"$s/many/name-$i-$(printf 'n%.0s' $(seq 1 $((i % 50))))"; done
seq 1 3000 >"$s/sv/in/f"; echo ro >"$s/rosv/f"
seq 1 4000 >"$s/nocow/f"; seq 1 4000 >"$s/nosum/f"
find "$s" -exec touch -h -d '2024-01-02 03:04:05.123456789 UTC' {} +

img() { truncate -s "${2:-128M}" "$w/$1.img"; }
pack() { zstd -q -19 -f "$w/$1.img" -o "$here/progs-$1.img.zst"; }

# mkfs alone: the newest features and --rootdir's options.
img rootdir
"$mkfs" -q -f -O block-group-tree,squota --csum blake2 -n 8192 \
  --rootdir "$s" --compress zstd:9 --subvol rw:sv --subvol ro:rosv \
  --inode-flags nodatacow:nocow --inode-flags nodatasum:nosum --shrink "$w/rootdir.img"
pack rootdir
img mixed
"$mkfs" -q -f -M --csum sha256 --rootdir "$s" --compress lzo "$w/mixed.img"
pack mixed

# Several devices, filled through the host's mount.
fill() {
  cp -a "$s/." "$w/m/tree"
  "$btrfs" -q subvolume create "$w/m/vol"; cp -a "$s/d" "$w/m/vol/"
  "$btrfs" -q subvolume snapshot -r "$w/m/vol" "$w/m/snap"
  cp --reflink=always "$w/m/tree/d/random" "$w/m/vol/reflinked"
  fallocate -l 300000 "$w/m/vol/prealloc"
  seq 1 30000 >"$w/m/vol/big"
}
devices() { # NAME N MKFS-ARGS...: N devices NAME-0 ...
  local name=$1 n=$2; shift 2
  local files=() o=rw,compress=zstd
  loops=()
  for i in $(seq 0 $((n - 1))); do img "$name-$i" 200M; files+=("$w/$name-$i.img"); done
  "$mkfs" -q -f "$@" "${files[@]}"
  for f in "${files[@]}"; do loops+=("$(losetup -f --show "$f")"); done
  for l in "${loops[@]:1}"; do o+=,device=$l; done
  mount -o "$o" "${loops[0]}" "$w/m"
  fill
  umount "$w/m"
  for l in "${loops[@]}"; do losetup -d "$l"; done
  loops=()
  for i in $(seq 0 $((n - 1))); do pack "$name-$i"; done
}
devices raid5 3 -d raid5 -m raid1c3 -O block-group-tree
devices raid10 4 -d raid10 -m raid10 -n 4096 --csum xxhash

# A log tree: changes fsynced after the last commit, the image copied
# while mounted (commit=300: no commit meanwhile).
img log
"$mkfs" -q -f -O block-group-tree,squota "$w/log.img"
mount -o loop,commit=300,compress=zstd "$w/log.img" "$w/m"
cp -a "$s/d" "$w/m/"; "$btrfs" -q subvolume create "$w/m/sv"; echo a >"$w/m/sv/f"
sync -f "$w/m"
echo appended >>"$w/m/d/text-100"; sync "$w/m/d/text-100"
echo new >"$w/m/d/new"; rm "$w/m/d/text-0"; mv "$w/m/d/text-1" "$w/m/d/renamed"; sync "$w/m/d"
seq 1 5000 >"$w/m/sv/g"; sync "$w/m/sv/g"
cp --sparse=always "$w/log.img" "$w/log-copy.img"
umount "$w/m"
mv "$w/log-copy.img" "$w/log.img"
pack log

cd "$here/../../../.."
BTRFS_RECORD=1 go test ./kernel/fs/btrfs/ -run TestProgsImages -count=1
ls -l "$here"/progs-*
