#!/bin/bash
# intents.sh makes testdata/efi-unfinished.img.zst: an XFS image whose
# log holds an extent-free intent (EFI) without its done item (EFD), as a
# crash leaves one while removed files' extents are being freed.
#
# Three files of 2,500 extents each (fallocated, every other 4 KiB
# punched) are removed; while their inactivation frees the extents, a
# loop of syncs pushes the log's checkpoints out, and xfs_io's shutdown
# (no log flush) stops the filesystem at a random moment. About one try in
# three leaves an EFI whose EFD never reached the log; the script tries
# until fs2tar (before the intents were settled, it refused such a log)
# or xfs_logprint shows one. Not the same bytes on each run: the image is
# committed, this says how it was made.
#
# Usage (root, loop devices): kernel/fs/xfs/testdata/intents.sh [OUT]
set -eu
. "$(dirname "$0")/unfinished.sh"
out=${1:-$(cd "$(dirname "$0")" && pwd)/efi-unfinished.img.zst}
w=$(mktemp -d); trap 'umount -q "$w/m" 2>/dev/null || true; rm -rf "$w"' EXIT
mkdir "$w/m"
truncate -s 300M "$w/base.img"
mkfs.xfs -q -f "$w/base.img"
mount -o loop "$w/base.img" "$w/m"
mkdir "$w/m/d"
args=()
for o in $(seq 0 8192 20000000); do args+=(-c "fpunch $o 4096"); done
for f in 1 2 3; do xfs_io -f -c "pwrite -q -b 1m 0 20m" "${args[@]}" -c fsync "$w/m/d/f$f" >/dev/null; done
echo kept >"$w/m/kept"
umount "$w/m"
for try in $(seq 1 100); do
  cp --sparse=always "$w/base.img" "$w/x.img"
  mount -o loop "$w/x.img" "$w/m"
  (while sync -f "$w/m/kept" 2>/dev/null; do :; done) &
  syncs=$!
  rm -f "$w/m/d/f1" "$w/m/d/f2" "$w/m/d/f3"
  sleep "0.$((RANDOM % 2))$((RANDOM % 10))$((RANDOM % 10))"
  xfs_io -x -c shutdown "$w/m"
  wait "$syncs" || true
  umount "$w/m"
  if unfinished EFI "$w/x.img"; then
    zstd -q -19 -f "$w/x.img" -o "$out"
    echo "try $try: $out"
    exit 0
  fi
done
echo "no unfinished EFI in 100 tries" >&2
exit 1
