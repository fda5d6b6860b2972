#!/usr/bin/env bash
# Builds the large images of make bench in DIR (the corpus directory), once:
#
#   large.bin   3 GiB of incompressible data (a random 1 MiB block repeated:
#               real data blocks, no holes), the reference for cat
#   large.ext4  a 3.5 GiB ext4 holding large.bin only: the streaming test
#   big.ext4    a 4 GiB ext4 holding large.bin and 100,000 small files (2 to
#               4,800 bytes) in 100 directories: the peak RSS test
#
#   bench/big-images.sh DIR
#
# Needs mkfs.ext4 (e2fsprogs) with -d, python3 and about 11 GiB of disk.
# The images are sparse files; mkfs.ext4 -d copies the data in.
set -euo pipefail
dir=$1
cd "$dir"
if [ ! -e large.bin ]; then
  head -c 1048576 /dev/urandom >large.bin.chunk
  for _ in $(seq 3072); do cat large.bin.chunk; done >large.bin.tmp
  rm large.bin.chunk
  mv large.bin.tmp large.bin
fi
# mkimage NAME SIZE: makes NAME.ext4 of SIZE from the tree NAME.tree, which
# fill() builds; large.bin goes in as a hard link, not a copy.
mkimage() {
  local name=$1 size=$2
  [ -e "$name.ext4" ] && return 0
  rm -rf "$name.tree" "$name.ext4.tmp"
  mkdir "$name.tree"
  ln large.bin "$name.tree/large.bin"
  if [ "$name" = big ]; then
    python3 - "$name.tree/small" <<'PY'
import os, sys
root = sys.argv[1]
os.mkdir(root)
for d in range(100):
    p = os.path.join(root, "d%03d" % d)
    os.mkdir(p)
    for f in range(1000):
        n = d * 1000 + f
        with open(os.path.join(p, "f%05d" % n), "wb") as fh:
            fh.write((b"%d " % n) * (1 + n % 800))
PY
  fi
  truncate -s "$size" "$name.ext4.tmp"
  mkfs.ext4 -q -F -E root_owner=0:0 -d "$name.tree" "$name.ext4.tmp"
  mv "$name.ext4.tmp" "$name.ext4"
  rm -rf "$name.tree"
}
mkimage large 3584M
mkimage big 4G
