#!/usr/bin/env bash
# Data integrity of lklfuse under random operations: xfstests' fsx (reads,
# writes, mmap, truncate, fallocate, hole punching, copy_file_range, each
# verified against a model) and fsstress (parallel creates, writes,
# renames, links, unlinks), in an ext4 image mounted by bin/lklfuse; then
# the image is unmounted and checked by e2fsck -fn. fsx and fsstress are
# built from an xfstests checkout (github.com/kdave/xfstests; CI cannot
# fetch it), which needs libacl1-dev, libattr1-dev, uuid-dev and
# xfslibs-dev. LKLIMG_FUSE_FS=vfat runs them on FAT32 (bench/fuse-image.sh),
# where fsx leaves out the fallocate modes FAT refuses.
#
#   bench/fsx.sh XFSTESTS_CHECKOUT [FSX_OPS] [FSSTRESS_OPS]
#
# Exit status 0 when both passed and the image is clean.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: bench/fsx.sh XFSTESTS_CHECKOUT [FSX_OPS] [FSSTRESS_OPS]}
fsx_ops=${2:-100000}
stress_ops=${3:-2000}
src=$(cd "$src" && pwd)
if [ ! -x "$src/ltp/fsx" ] || [ ! -x "$src/ltp/fsstress" ]; then
  (cd "$src" && { [ -f include/builddefs ] || { make configure && ./configure; } >/dev/null; } &&
    make -C lib >/dev/null && make -C ltp fsx fsstress >/dev/null)
fi
. "$here/bench/fuse-image.sh"
fuse_mount
status=0
"$src/ltp/fsx" -N "$fsx_ops" -S 7 -l 8388608 -o 262144 "$mnt/fsx-file" | tail -1 || status=1
mkdir "$mnt/stress"
"$src/ltp/fsstress" -d "$mnt/stress" -p 4 -n "$stress_ops" -s 42 || status=1
fuse_check || status=1
exit $status
