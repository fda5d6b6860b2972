#!/usr/bin/env bash
# The benchmark and acceptance corpus: a Debian bookworm minbase root
# filesystem (about 200 MB, ~6,800 entries: symlinks, hard links, device
# nodes, setuid files) as a directory, its tar, and an ext4 image of it made
# by mkfs.ext4 -d. Needs root and apt's Debian mirror; installs debootstrap
# and e2fsprogs when missing. An existing corpus is reused. Prints the
# corpus directory (default $HOME/.cache/lklimg-corpus).
#
#   bench/corpus.sh [DIR]
set -euo pipefail
dir=${1:-$HOME/.cache/lklimg-corpus}
mkdir -p "$dir"
cd "$dir"
for t in debootstrap:debootstrap mkfs.ext4:e2fsprogs; do
  command -v "${t%%:*}" >/dev/null && continue
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${t##*:}" >/dev/null
done
if [ ! -e rootfs/.complete ]; then
  rm -rf rootfs
  # The mirror apt already uses (deb822 sources first, then sources.list).
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  debootstrap --variant=minbase bookworm rootfs "$mirror" >debootstrap.log 2>&1
  touch rootfs/.complete
fi
[ -e rootfs.tar ] || tar -C rootfs --exclude=./.complete --numeric-owner --xattrs -cf rootfs.tar .
if [ ! -e rootfs.ext4 ]; then
  truncate -s 1G rootfs.ext4.part
  mkfs.ext4 -q -F -E root_owner=0:0 -d rootfs rootfs.ext4.part
  mv rootfs.ext4.part rootfs.ext4
fi
echo "$dir"
