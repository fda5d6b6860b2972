#!/bin/bash
# xa.sh makes testdata/xa.iso.gz: a small image written by genisoimage
# with -XA, whose every directory record's system use area starts with
# CD-ROM XA's 14 bytes of system use information, then the SUSP entries
# (the root's SP says to skip 14 bytes), with Rock Ridge and Joliet.
# Linux finds Rock Ridge behind the XA bytes (parse_rock_ridge_inode's
# RR_REGARD_XA retry); xorriso and bsdtar do not, so the test checks the
# tree against what this script put in it.
#
# Usage (root, for the owners): kernel/fs/isofs/testdata/xa.sh [OUT]
set -eu
out=${1:-$(cd "$(dirname "$0")" && pwd)/xa.iso.gz}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/src/Sub Dir"
printf 'hello\n' >"$w/src/readme.txt"
printf 'inner\n' >"$w/src/Sub Dir/Inner File.dat"
ln -s "Sub Dir/Inner File.dat" "$w/src/link"
chmod 0640 "$w/src/readme.txt"
chmod 0750 "$w/src/Sub Dir"
chown 1234:5678 "$w/src/readme.txt"
find "$w/src" -exec touch -h -d '2020-02-03 04:05:06 UTC' {} +
genisoimage -quiet -no-pad -R -J -XA -V XA -o "$w/xa.iso" "$w/src"
gzip -9n <"$w/xa.iso" >"$out"
