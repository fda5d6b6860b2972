# Sourced by bench/pjdfstest.sh and bench/fsx.sh: a fresh 1 GiB ext4 image
# mounted by bin/lklfuse (or, with LKLIMG_FUSE_LOOP=1, by the host kernel,
# the reference), in a work directory removed at exit. LKLIMG_FUSE_FS=vfat
# makes a FAT32 image instead (LKLIMG_FUSE_MKFS_OPTS: mkfs.fat's options,
# default -F 32), checked by fsck.fat -n and, file by file, against what
# mtools' mcopy extracts.
#
#   fuse_mount [LKLFUSE_OPTION...]   sets $work, $img, $mnt and mounts
#   fuse_check                       unmounts, waits for the server to end
#                                    (it leaves the image clean then), and
#                                    runs e2fsck -fn (fsck.fat -n): its status
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x "$here/bin/lklfuse" ] || make -C "$here" build >/dev/null

fuse_mount() {
  work=$(mktemp -d)
  mnt=$work/mnt
  img=$work/img
  mkdir "$mnt"
  trap 'cd /; mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt"; }; rm -rf "$work"' EXIT
  if [ "${LKLIMG_FUSE_FS:-ext4}" = vfat ]; then
    truncate -s 1G "$img"
    # shellcheck disable=SC2086 # options split as mkfs.fat takes them
    mkfs.fat ${LKLIMG_FUSE_MKFS_OPTS:--F 32} "$img" >/dev/null
  else
    mkfs.ext4 -q -F "$img" 1G
  fi
  if [ "${LKLIMG_FUSE_LOOP:-}" = 1 ]; then
    mount -o loop "$img" "$mnt"
  else
    "$here/bin/lklfuse" "$@" "$img" "$mnt"
  fi
}

# fuse_sums prints the MD5 sum of every file under the directory $1.
fuse_sums() { (cd "$1" && find . -type f -exec md5sum {} + | sort -k2); }

fuse_check() {
  cd /
  if [ "${LKLIMG_FUSE_FS:-ext4}" = vfat ]; then
    fuse_sums "$mnt" >"$work/mounted.md5"
  fi
  if [ "${LKLIMG_FUSE_LOOP:-}" = 1 ]; then
    umount "$mnt"
  else
    fusermount3 -u "$mnt"
    # An exited server not yet reaped (a zombie) counts as gone.
    while pgrep -r D,R,S -f "lklfuse.* $img $mnt" >/dev/null; do sleep 0.1; done
  fi
  if [ "${LKLIMG_FUSE_FS:-ext4}" = vfat ]; then
    fat_check
    return
  fi
  if ! e2fsck -fn "$img" >"$work/fsck" 2>&1; then
    cat "$work/fsck"
    echo "e2fsck -fn found errors" >&2
    return 1
  fi
  echo "e2fsck -fn: clean"
}

# fat_check: fsck.fat -n must be clean, and mcopy must extract every file
# as it read through the mount.
fat_check() {
  if ! fsck.fat -n "$img" >"$work/fsck" 2>&1 || grep -q '^  ' "$work/fsck"; then
    cat "$work/fsck"
    echo "fsck.fat -n found errors" >&2
    return 1
  fi
  echo "fsck.fat -n: clean"
  mkdir "$work/mcopy"
  MTOOLS_SKIP_CHECK=1 mcopy -s -m -n -i "$img" '::/*' "$work/mcopy/"
  if ! diff "$work/mounted.md5" <(fuse_sums "$work/mcopy"); then
    echo "mcopy extracts other contents than the mount showed" >&2
    return 1
  fi
  echo "mcopy: the same contents"
}
