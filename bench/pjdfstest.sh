#!/usr/bin/env bash
# POSIX conformance of lklfuse: pjdfstest (github.com/pjd/pjdfstest) run
# as root inside an ext4 image mounted by bin/lklfuse, then the image
# checked by e2fsck -fn. pjdfstest is not a Debian package and CI cannot
# fetch it: give a checkout of it.
#
#   bench/pjdfstest.sh PJDFSTEST_CHECKOUT [TEST_DIR...]
#
# TEST_DIRs are under tests/ (chmod, rename, ...); all of them by default.
# Prints prove's summary; exit status 0 when every test passed and the
# image is clean. The same run on the host's own ext4 (a loop mount) is
# the reference: LKLIMG_FUSE_LOOP=1 runs it there instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: bench/pjdfstest.sh PJDFSTEST_CHECKOUT [TEST_DIR...]}
shift
src=$(cd "$src" && pwd)
if [ ! -x "$src/pjdfstest" ]; then
  (cd "$src" && autoreconf -ifs >/dev/null 2>&1 && ./configure >/dev/null && make pjdfstest >/dev/null)
fi
command -v prove >/dev/null || { echo "pjdfstest.sh: needs prove (perl)" >&2; exit 2; }
. "$here/bench/fuse-image.sh"
fuse_mount -o allow_other
tests=()
if [ $# -eq 0 ]; then
  tests=("$src/tests")
else
  for d in "$@"; do tests+=("$src/tests/$d"); done
fi
status=0
(cd "$mnt" && prove -r "${tests[@]}") || status=$?
fuse_check || status=1
exit $status
