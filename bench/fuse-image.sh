# Sourced by bench/pjdfstest.sh and bench/fsx.sh: a fresh 1 GiB ext4 image
# mounted by bin/lklfuse (or, with LKLIMG_FUSE_LOOP=1, by the host kernel,
# the reference), in a work directory removed at exit.
#
#   fuse_mount [LKLFUSE_OPTION...]   sets $work, $img, $mnt and mounts
#   fuse_check                       unmounts, waits for the server to end
#                                    (it leaves the image clean then), and
#                                    runs e2fsck -fn: its status
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x "$here/bin/lklfuse" ] || make -C "$here" build >/dev/null

fuse_mount() {
  work=$(mktemp -d)
  mnt=$work/mnt
  img=$work/img
  mkdir "$mnt"
  trap 'cd /; mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt"; }; rm -rf "$work"' EXIT
  mkfs.ext4 -q -F "$img" 1G
  if [ "${LKLIMG_FUSE_LOOP:-}" = 1 ]; then
    mount -o loop "$img" "$mnt"
  else
    "$here/bin/lklfuse" "$@" "$img" "$mnt"
  fi
}

fuse_check() {
  cd /
  if [ "${LKLIMG_FUSE_LOOP:-}" = 1 ]; then
    umount "$mnt"
  else
    fusermount3 -u "$mnt"
    # An exited server not yet reaped (a zombie) counts as gone.
    while pgrep -r D,R,S -f "lklfuse.* $img $mnt" >/dev/null; do sleep 0.1; done
  fi
  if ! e2fsck -fn "$img" >"$work/fsck" 2>&1; then
    cat "$work/fsck"
    echo "e2fsck -fn found errors" >&2
    return 1
  fi
  echo "e2fsck -fn: clean"
}
