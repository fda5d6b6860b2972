#!/bin/bash
# bui.sh makes testdata/bui-unfinished.img.zst: an XFS image (the
# defaults of a newer mkfs.xfs: reflink and rmapbt) whose log holds file
# mapping update intents (BUI) without their done items (BUD), as a
# crash leaves them while reflink copies remap extents and range
# exchanges swap them. Reflink copies of a file of 500 extents and
# xfs_io's exchangerange run while a loop of syncs pushes the log out,
# and xfs_io's shutdown (no log flush) stops the filesystem at a random
# moment; the script tries until xfs_logprint shows a BUI whose id no BUD
# names (about one try in seven). Not the same bytes on each run: the
# image is committed, this says how it was made; then `newmkfs.sh none`
# (no image made) records the tree the host shows of it.
#
# Usage (root, loop devices): MKFS=/path/to/mkfs.xfs testdata/bui.sh [OUT]
set -eu
. "$(dirname "$0")/unfinished.sh"
mkfs=${MKFS:-mkfs.xfs}
out=${1:-$(cd "$(dirname "$0")" && pwd)/bui-unfinished.img.zst}
w=$(mktemp -d); trap 'umount -q "$w/m" 2>/dev/null || true; rm -rf "$w"' EXIT
mkdir "$w/m"
truncate -s 300M "$w/base.img"
"$mkfs" -q -f -i exchange=1 "$w/base.img"
mount -o loop "$w/base.img" "$w/m"
args=()
for o in $(seq 0 8192 4000000); do args+=(-c "pwrite -q -S $((o / 8192 % 251)) $o 4096"); done
xfs_io -f "${args[@]}" -c fsync "$w/m/frag" >/dev/null
xfs_io -f -c "pwrite -q -S 0x61 0 4m" -c fsync "$w/m/a" >/dev/null
xfs_io -f -c "pwrite -q -S 0x62 0 4m" -c fsync "$w/m/b" >/dev/null
echo kept >"$w/m/kept"
umount "$w/m"
for try in $(seq 1 100); do
  cp --sparse=always "$w/base.img" "$w/x.img"
  mount -o loop "$w/x.img" "$w/m"
  (for i in $(seq 1 100); do cp --reflink=always "$w/m/frag" "$w/m/r$i" 2>/dev/null || break; done) &
  copies=$!
  (while xfs_io -c "exchangerange $w/m/b" "$w/m/a" 2>/dev/null; do :; done) &
  exchanges=$!
  (while sync -f "$w/m/kept" 2>/dev/null; do :; done) &
  syncs=$!
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  xfs_io -x -c shutdown "$w/m"
  wait "$copies" "$exchanges" "$syncs" || true
  umount "$w/m"
  if unfinished BUI "$w/x.img"; then
    zstd -q -19 -f "$w/x.img" -o "$out"
    echo "try $try: $out"
    exit 0
  fi
done
echo "no unfinished BUI in 100 tries" >&2
exit 1
