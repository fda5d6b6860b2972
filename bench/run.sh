#!/usr/bin/env bash
# make bench: side-by-side wall times of our tools and their peers on the same
# image, in one run, as ratios (median of RUNS runs, page cache warm).
#
#   bench/run.sh [CORPUS_DIR]
#
# ONLY=ROW,ROW... runs those rows alone (fs2tar cptofs tar2fs esp erofs
# disk lklfuse qcow2 btrfs-xfs squashfs sqfs-write iso big): for a change's
# own figures; the README's table comes from a whole run.
#
# The corpus is a Debian minbase rootfs (bench/corpus.sh builds it:
# rootfs/, rootfs.tar, rootfs.ext4). Loop mounting needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
corpus=${1:-${LKLIMG_CORPUS:-$HOME/.cache/lklimg-corpus}}
if [ ! -e "$corpus/rootfs.ext4" ]; then
  corpus=$(bash "$here/bench/corpus.sh" "$corpus")
fi
img=$corpus/rootfs.ext4
[ -e "$img" ] || { echo "bench: no corpus image at $img (run bench/corpus.sh)" >&2; exit 1; }
fs2tar=$here/bin/fs2tar
work=$(mktemp -d); trap 'umount -q "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/m"

# median TIMES...: the middle value
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timeall NAME CMD [NAME CMD]...: runs the commands in turn, RUNS rounds
# of all of them (interleaved, so that a change in the machine's load hits
# every command alike), and sets T[NAME] to each one's median wall time in
# seconds.
declare -A T
timeall() {
  local -A cmd=() ts=()
  local names=() n s e
  while [ $# -gt 0 ]; do names+=("$1"); cmd[$1]=$2; shift 2; done
  for _ in $(seq "$RUNS"); do
    for n in "${names[@]}"; do
      s=$(date +%s.%N); bash -c "${cmd[$n]}" >/dev/null; e=$(date +%s.%N)
      ts[$n]+=" $(echo "$e - $s" | bc -l)"
    done
  done
  for n in "${names[@]}"; do
    # shellcheck disable=SC2086 # the list of times
    T[$n]=$(median ${ts[$n]})
  done
}

# ratio A B: A/B with two decimals
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
# goal RATIO OP LIMIT: "ok" or "MISSED"
goal() { if [ "$(echo "$1 $2 $3" | bc -l)" = 1 ]; then echo ok; else echo MISSED; fi; }
# row NAME: whether ONLY (empty: every row) asks for the row NAME
row() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }

cat "$img" >/dev/null # warm the host page cache
echo "image: $img ($(du -h --apparent-size "$img" | cut -f1), $(find "$corpus/rootfs" | wc -l) entries in the source tree)"
echo "wall times, median of $RUNS interleaved runs, page cache warm; tar output through a pipe to cat"
if row fs2tar; then
  peers=(cat "cat '$img' >/dev/null" ours "'$fs2tar' '$img' - | cat >/dev/null")
  if [ "$(id -u)" = 0 ]; then
    peers+=(loop "mount -o loop,ro '$img' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; umount '$work/m'")
  fi
  if command -v debugfs >/dev/null; then
    peers+=(debugfs "rm -rf '$work/d'; mkdir '$work/d'; debugfs -R 'rdump / $work/d' '$img' 2>/dev/null; tar -C '$work/d' -cf - . | cat >/dev/null")
  fi
  timeall "${peers[@]}"
  printf '%-44s %8.3fs\n' "cat IMAGE >/dev/null (the floor)" "${T[cat]}"
  printf '%-44s %8.3fs\n' "fs2tar IMAGE - | cat" "${T[ours]}"
  if [ -n "${T[loop]:-}" ]; then
    r=$(ratio "${T[ours]}" "${T[loop]}")
    printf '%-44s %8.3fs   fs2tar/loop = %s (goal <= 0.25: %s)\n' "mount -o loop,ro + tar | cat" "${T[loop]}" "$r" "$(goal "$r" '<=' 0.25)"
  fi
  if [ -n "${T[debugfs]:-}" ]; then
    printf '%-44s %8.3fs   fs2tar/debugfs = %s\n' "debugfs rdump + tar | cat" "${T[debugfs]}" "$(ratio "${T[ours]}" "${T[debugfs]}")"
  fi
  printf '%-44s %8s    fs2tar/cat = %s\n' "" "" "$(ratio "${T[ours]}" "${T[cat]}")"
fi

# Writing (issue 5): the corpus tree put into a fresh 1 GiB image by
# mkfs.ext4 + cptofs, against mke2fs -d of the same tree into the same
# size (the peer: e2fsprogs writing without a kernel). Both images are
# journaled, metadata_csum ext4 with mkfs.ext4's defaults.
cptofs=$here/bin/cptofs
if row cptofs && [ -x "$cptofs" ]; then
  src=$corpus/rootfs
  echo
  echo "writing: the corpus tree ($(du -sh "$src" | cut -f1)) into a fresh 1 GiB ext4 image"
  timeall mke2fs "rm -f '$work/w.img'; truncate -s 1G '$work/w.img'; mke2fs -q -F -t ext4 -E root_owner=0:0 -d '$src' '$work/w.img'" \
    cptofs "rm -f '$work/w.img'; truncate -s 1G '$work/w.img'; mkfs.ext4 -q -F -E root_owner=0:0 '$work/w.img' && cd '$src' && '$cptofs' -i '$work/w.img' . /"
  printf '%-44s %8.3fs\n' "mke2fs -d TREE" "${T[mke2fs]}"
  r=$(ratio "${T[cptofs]}" "${T[mke2fs]}")
  printf '%-44s %8.3fs   cptofs/mke2fs-d = %s (goal <= 0.5: %s)\n' "mkfs.ext4 + cptofs TREE" "${T[cptofs]}" "$r" "$(goal "$r" '<=' 0.5)"
fi

# Images from tars (issue 6): the corpus tar into the smallest image that
# holds it, by lklimg tar2fs (journaled, metadata_csum ext4 with mkfs.ext4's
# defaults) against hcsshim's tar2ext4 (bench/peers.sh builds
# it; no journal, no checksums), and the same tar as a zstd stream on
# stdin. Neither syncs the image to the disk.
lklimg=$here/bin/lklimg
tar=$corpus/rootfs.tar
if row tar2fs && [ -x "$lklimg" ] && [ -e "$tar" ]; then
  command -v tar2ext4 >/dev/null || bash "$here/bench/peers.sh" >/dev/null 2>&1 || true
  echo
  echo "images from a tar: $tar ($(du -h --apparent-size "$tar" | cut -f1), $(tar -tf "$tar" | wc -l) entries)"
  cat "$tar" >/dev/null
  zstd -q -1 -f -o "$work/rootfs.tar.zst" "$tar"
  peers=(tar2fs "rm -f '$work/f.img'; '$lklimg' tar2fs -q '$tar' '$work/f.img'"
    epoch "rm -f '$work/e.img'; SOURCE_DATE_EPOCH=1700000000 '$lklimg' tar2fs -q '$tar' '$work/e.img'"
    zstdin "rm -f '$work/z.img'; '$lklimg' tar2fs -q - '$work/z.img' <'$work/rootfs.tar.zst'")
  if command -v tar2ext4 >/dev/null; then
    peers+=(tar2ext4 "rm -f '$work/t.img'; tar2ext4 -i '$tar' -o '$work/t.img'")
  fi
  timeall "${peers[@]}"
  printf '%-44s %8.3fs   image %s\n' "lklimg tar2fs TAR IMAGE" "${T[tar2fs]}" "$(du -h --apparent-size "$work/f.img" | cut -f1)"
  printf '%-44s %8.3fs\n' "SOURCE_DATE_EPOCH=... lklimg tar2fs TAR IMAGE" "${T[epoch]}"
  printf '%-44s %8.3fs\n' "lklimg tar2fs - IMAGE <TAR.zst" "${T[zstdin]}"
  if [ -n "${T[tar2ext4]:-}" ]; then
    r=$(ratio "${T[tar2fs]}" "${T[tar2ext4]}")
    printf '%-44s %8.3fs   image %s   tar2fs/tar2ext4 = %s (goal <= 0.5: %s)\n' "tar2ext4 -i TAR -o IMAGE" "${T[tar2ext4]}" \
      "$(du -h --apparent-size "$work/t.img" | cut -f1)" "$r" "$(goal "$r" '<=' 0.5)"
    r=$(ratio "${T[epoch]}" "${T[tar2ext4]}")
    printf '%-44s %8s    tar2fs-with-SOURCE_DATE_EPOCH/tar2ext4 = %s (goal <= 0.5: %s)\n' "" "" "$r" "$(goal "$r" '<=' 0.5)"
  fi
  # Peak RSS of each writer, once (/usr/bin/time -v), default settings.
  rss() { /usr/bin/time -v "$@" 2>"$work/time" >/dev/null; awk -F: '/Maximum resident set size/ {printf "%.1f", ($2+0)/1024}' "$work/time"; }
  rm -f "$work/f.img"; m=$(rss "$lklimg" tar2fs -q "$tar" "$work/f.img")
  printf '%-44s %8s MiB (goal <= 64: %s)\n' "peak RSS: lklimg tar2fs TAR IMAGE" "$m" "$(goal "$m" '<=' 64)"
  if command -v tar2ext4 >/dev/null; then
    rm -f "$work/t.img"; printf '%-44s %8s MiB\n' "peak RSS: tar2ext4" "$(rss tar2ext4 -i "$tar" -o "$work/t.img")"
  fi
  if [ -x "$cptofs" ]; then
    rm -f "$work/w.img"; truncate -s 1G "$work/w.img"; mkfs.ext4 -q -F -E root_owner=0:0 "$work/w.img"
    m=$(cd "$corpus/rootfs" && rss "$cptofs" -i "$work/w.img" . /)
    printf '%-44s %8s MiB (goal <= 64: %s)\n' "peak RSS: cptofs TREE" "$m" "$(goal "$m" '<=' 64)"
  fi
fi

# An ESP (issue 15): a tree of about 100 MiB of regular files (the corpus's
# /usr/bin, /usr/sbin, /usr/lib and /usr/share/locale: symlinks left out,
# hard links as copies; made once, from the corpus) into a new 256 MiB
# FAT32 image, by lklimg mkfs -t vfat -d against mkfs.fat + mcopy -s.
# Neither flushes the copy to the disk. The floor: every file of the tree
# read and written, one after the other, into one file by cat.
if row esp && [ -x "$lklimg" ] && command -v mkfs.fat >/dev/null && command -v mcopy >/dev/null; then
  esp=$corpus/esp-tree
  if [ ! -e "$esp.complete" ]; then
    rm -rf "$esp"; mkdir -p "$esp"
    (cd "$corpus/rootfs" && find usr/bin usr/sbin usr/lib usr/share/locale -type f | LC_ALL=C sort) >"$work/esp.list"
    tar -C "$corpus/rootfs" --hard-dereference --no-recursion -T "$work/esp.list" -cf - | tar -C "$esp" -xf -
    touch "$esp.complete"
  fi
  echo
  echo "an ESP: $esp ($(du -sh "$esp" | cut -f1), $(find "$esp" -type f | wc -l) files) into a new 256 MiB FAT32 image"
  find "$esp" -type f -print0 | xargs -0 cat >/dev/null
  timeall vfat "rm -f '$work/v.img'; '$lklimg' mkfs -q -t vfat -F 32 -d '$esp' '$work/v.img' 256M" \
    mcopy "rm -f '$work/m.img'; mkfs.fat -F 32 -C '$work/m.img' 262144 >/dev/null && MTOOLS_SKIP_CHECK=1 mcopy -s -i '$work/m.img' '$esp'/* ::" \
    floor "find '$esp' -type f -print0 | xargs -0 cat >'$work/floor.bin'"
  printf '%-44s %8.3fs\n' "cat of every file into one (the floor)" "${T[floor]}"
  printf '%-44s %8.3fs\n' "mkfs.fat -F 32 + mcopy -s TREE/* ::" "${T[mcopy]}"
  r=$(ratio "${T[vfat]}" "${T[mcopy]}")
  printf '%-44s %8.3fs   vfat/mcopy = %s (goal <= 0.5: %s)\n' "lklimg mkfs -t vfat -F 32 -d TREE" "${T[vfat]}" "$r" "$(goal "$r" '<=' 0.5)"
  rm -f "$work/v.img" "$work/m.img" "$work/floor.bin"
fi

# EROFS (issue 16): the corpus tree into an EROFS image by lklimg mkfs -t
# erofs -d against mkfs.erofs on the same tree, with the same compressor
# (none, lz4, lz4hc at its default level 9). Neither flushes the image.
if row erofs && [ -x "$lklimg" ] && command -v mkfs.erofs >/dev/null; then
  src=$corpus/rootfs
  echo
  echo "EROFS images of the corpus tree ($(du -sh "$src" | cut -f1))"
  for z in none lz4 lz4hc; do
    zo=; [ "$z" = none ] || zo=-z$z
    timeall ours "rm -f '$work/e.img'; '$lklimg' mkfs -q -t erofs $zo -d '$src' '$work/e.img'" \
      theirs "rm -f '$work/r.img'; mkfs.erofs --quiet $zo '$work/r.img' '$src' >/dev/null 2>&1"
    printf '%-44s %8.3fs   image %s\n' "mkfs.erofs $zo IMAGE TREE" "${T[theirs]}" "$(du -h --apparent-size "$work/r.img" | cut -f1)"
    r=$(ratio "${T[ours]}" "${T[theirs]}")
    printf '%-44s %8.3fs   image %s   ours/mkfs.erofs = %s (goal <= 1: %s)\n' "lklimg mkfs -t erofs $zo -d TREE IMAGE" "${T[ours]}" \
      "$(du -h --apparent-size "$work/e.img" | cut -f1)" "$r" "$(goal "$r" '<=' 1)"
  done
  rm -f "$work/e.img" "$work/r.img"
fi

# A whole disk (issue 15): a GPT disk of an ESP (vfat, 128 MiB) and a root
# (ext4, 1 GiB, the corpus tree copied in) from the same repart.d files, by
# lklimg disk build against systemd-repart --empty=create (which formats
# through mkfs.vfat and mkfs.ext4 and fills the root through a loop mount;
# its vfat cannot be filled here, this kernel has no vfat, so the ESP is
# left empty by both).
if row disk && [ -x "$lklimg" ] && [ "$(id -u)" = 0 ] && command -v systemd-repart >/dev/null; then
  echo
  echo "a whole disk from repart.d files: an empty 128 MiB ESP, a 1 GiB ext4 root with the corpus tree"
  mkdir -p "$work/defs"
  printf '[Partition]\nType=esp\nFormat=vfat\nSizeMinBytes=128M\nSizeMaxBytes=128M\n' >"$work/defs/10-esp.conf"
  printf '[Partition]\nType=root\nFormat=ext4\nCopyFiles=%s:/\nSizeMinBytes=1G\nSizeMaxBytes=1G\n' "$corpus/rootfs" >"$work/defs/20-root.conf"
  seed=0d0b7b6f-3c52-4b5b-9c8e-1f2a3b4c5d6e
  timeall disk "rm -f '$work/disk.img'; '$lklimg' disk build -q --definitions '$work/defs' --seed $seed '$work/disk.img'" \
    repart "rm -f '$work/repart.img'; systemd-repart --empty=create --size=auto --seed=$seed --definitions='$work/defs' --dry-run=no --no-pager '$work/repart.img' 2>/dev/null"
  printf '%-44s %8.3fs\n' "systemd-repart --empty=create" "${T[repart]}"
  r=$(ratio "${T[disk]}" "${T[repart]}")
  printf '%-44s %8.3fs   disk-build/systemd-repart = %s (goal <= 0.5: %s)\n' "lklimg disk build" "${T[disk]}" "$r" "$(goal "$r" '<=' 0.5)"
  rm -f "$work/disk.img"
  /usr/bin/time -v "$lklimg" disk build -q --definitions "$work/defs" --seed $seed "$work/disk.img" 2>"$work/time" >/dev/null
  m=$(awk -F: '/Maximum resident set size/ {printf "%.1f", ($2+0)/1024}' "$work/time")
  printf '%-44s %8s MiB (goal <= 64: %s)\n' "peak RSS: lklimg disk build" "$m" "$(goal "$m" '<=' 64)"
  rm -f "$work/disk.img" "$work/repart.img"
fi

# lklfuse (issue 14): tar of the corpus image's tree through the FUSE mount,
# read-only, against fuse2fs (e2fsprogs' FUSE server) and the loop mount.
# Each run mounts, reads, unmounts and waits for the server to end.
if row lklfuse && [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
  echo
  echo "lklfuse: tar of the mounted corpus image | cat, mount to unmount"
  # A server that has exited but is not yet reaped (a zombie) is gone.
  gone='while pgrep -r D,R,S -x lklfuse >/dev/null || pgrep -r D,R,S -x fuse2fs >/dev/null; do sleep 0.02; done'
  fpeers=(fuse "'$here/bin/lklfuse' -o ro '$img' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; fusermount3 -u '$work/m'; $gone"
    floop "mount -o loop,ro '$img' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; umount '$work/m'")
  if command -v fuse2fs >/dev/null; then
    fpeers+=(fuse2fs "fuse2fs -o ro,fakeroot '$img' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; fusermount3 -u '$work/m'; $gone")
  fi
  timeall "${fpeers[@]}"
  printf '%-44s %8.3fs\n' "lklfuse -o ro + tar | cat" "${T[fuse]}"
  if [ -n "${T[fuse2fs]:-}" ]; then
    r=$(ratio "${T[fuse]}" "${T[fuse2fs]}")
    printf '%-44s %8.3fs   lklfuse/fuse2fs = %s (goal <= 0.5: %s)\n' "fuse2fs -o ro + tar | cat" "${T[fuse2fs]}" "$r" "$(goal "$r" '<=' 0.5)"
  fi
  printf '%-44s %8.3fs   lklfuse/loop = %s\n' "mount -o loop,ro + tar | cat" "${T[floop]}" "$(ratio "${T[fuse]}" "${T[floop]}")"
fi

# Other image formats (issue 17): the corpus image as qcow2 (qemu-img
# convert, uncompressed), exported by fs2tar against the raw image.
if row qcow2 && command -v qemu-img >/dev/null; then
  qemu-img convert -f raw -O qcow2 "$img" "$work/r.qcow2"
  echo
  echo "the corpus image as qcow2 ($(du -h "$work/r.qcow2" | cut -f1))"
  timeall qraw "'$fs2tar' '$img' - | cat >/dev/null" qcow "'$fs2tar' '$work/r.qcow2' - | cat >/dev/null"
  printf '%-44s %8.3fs
' "fs2tar IMAGE.raw - | cat" "${T[qraw]}"
  r=$(ratio "${T[qcow]}" "${T[qraw]}")
  printf '%-44s %8.3fs   qcow2/raw = %s (goal <= 1.2: %s)\n' "fs2tar IMAGE.qcow2 - | cat" "${T[qcow]}" "$r" "$(goal "$r" '<=' 1.2)"
  # lklimg convert against qemu-img convert, each way and compressed
  # (-c: deflate, as qemu-img's default): goal no slower.
  lklimg=$here/bin/lklimg
  echo
  echo "convert the corpus image (qemu-img convert vs lklimg convert)"
  for c in "qcow2 raw:-O raw:$work/r.qcow2" "raw qcow2:-O qcow2:$img" "raw qcow2 -c:-O qcow2 -c:$img"; do
    what=${c%%:*}; rest=${c#*:}; opts=${rest%%:*}; src=${rest#*:}
    timeall cq "qemu-img convert $opts '$src' '$work/cv.out'" cl "'$lklimg' convert -q $opts '$src' '$work/cv.out'"
    r=$(ratio "${T[cl]}" "${T[cq]}")
    printf '%-44s %8.3fs\n' "qemu-img convert ($what)" "${T[cq]}"
    printf '%-44s %8.3fs   lklimg/qemu-img = %s (goal <= 1.0: %s)\n' "lklimg convert ($what)" "${T[cl]}" "$r" "$(goal "$r" '<=' 1.0)"
  done
  rm -f "$work/cv.out"
fi

# btrfs and XFS (issue 18): the corpus tree in a btrfs image (mkfs.btrfs
# --rootdir, uncompressed: this btrfs-progs has no --compress) and in an
# XFS image (mkfs.xfs, filled through a loop mount), exported by fs2tar
# against the loop mount + GNU tar. Goal: half.
if row btrfs-xfs && [ "$(id -u)" = 0 ]; then
  for fs in btrfs xfs; do
    command -v "mkfs.$fs" >/dev/null || continue
    fimg=$work/r.$fs
    rm -f "$fimg"; truncate -s 1G "$fimg"
    if [ "$fs" = btrfs ]; then
      mkfs.btrfs -q --rootdir "$corpus/rootfs" "$fimg" >/dev/null
    else
      mkfs.xfs -q "$fimg" && mount -o loop "$fimg" "$work/m" && cp -a "$corpus/rootfs/." "$work/m/" && umount "$work/m"
    fi
    echo
    echo "the corpus tree in $fs ($(du -h "$fimg" | cut -f1) allocated)"
    timeall fours "'$fs2tar' '$fimg' - | cat >/dev/null" floop "mount -o loop,ro '$fimg' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; umount '$work/m'"
    printf '%-44s %8.3fs\n' "mount -o loop,ro + tar | cat" "${T[floop]}"
    r=$(ratio "${T[fours]}" "${T[floop]}")
    printf '%-44s %8.3fs   fs2tar/loop = %s (goal <= 0.5: %s)\n' "fs2tar IMAGE - | cat" "${T[fours]}" "$r" "$(goal "$r" '<=' 0.5)"
    rm -f "$fimg"
  done
fi

# Read-only image filesystems (issue 16): the corpus tree as a SquashFS
# image (mksquashfs, zstd), exported by fs2tar against sqfs2tar
# (squashfs-tools-ng) and against the loop mount + GNU tar.
if row squashfs && command -v mksquashfs >/dev/null; then
  mksquashfs "$corpus/rootfs" "$work/r.sqfs" -comp zstd -quiet -no-progress >/dev/null
  echo
  echo "the corpus tree as squashfs, zstd ($(du -h "$work/r.sqfs" | cut -f1))"
  speers=(sours "'$fs2tar' '$work/r.sqfs' - | cat >/dev/null")
  if command -v sqfs2tar >/dev/null; then
    speers+=(sqfs2tar "sqfs2tar '$work/r.sqfs' 2>/dev/null | cat >/dev/null")
  fi
  if [ "$(id -u)" = 0 ]; then
    speers+=(sloop "mount -o loop,ro '$work/r.sqfs' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; umount '$work/m'")
  fi
  timeall "${speers[@]}"
  printf '%-44s %8.3fs
' "fs2tar IMAGE - | cat" "${T[sours]}"
  if [ -n "${T[sqfs2tar]:-}" ]; then
    r=$(ratio "${T[sours]}" "${T[sqfs2tar]}")
    printf '%-44s %8.3fs   fs2tar/sqfs2tar = %s (goal <= 0.5: %s)\n' "sqfs2tar IMAGE | cat" "${T[sqfs2tar]}" "$r" "$(goal "$r" '<=' 0.5)"
  fi
  if [ -n "${T[sloop]:-}" ]; then
    printf '%-44s %8.3fs   fs2tar/loop = %s\n' "mount -o loop,ro + tar | cat" "${T[sloop]}" "$(ratio "${T[sours]}" "${T[sloop]}")"
  fi
fi

# The squashfs writer (issue 16): the corpus tree into a SquashFS image by
# lklimg mkfs -t squashfs -d against mksquashfs -noappend, both gzip (the
# default) on 2 cores, and the corpus tar by lklimg tar2fs -t squashfs
# against tar2sqfs (squashfs-tools-ng), gzip, 2 cores. Goal: no slower.
if row sqfs-write && [ -x "$lklimg" ] && command -v mksquashfs >/dev/null; then
  echo
  echo "the corpus tree into a SquashFS image, gzip, 2 cores"
  qpeers=(qours "rm -f '$work/q.sqfs'; '$lklimg' mkfs -q -t squashfs -processors 2 -d '$corpus/rootfs' '$work/q.sqfs'"
    mksquashfs "rm -f '$work/m.sqfs'; mksquashfs '$corpus/rootfs' '$work/m.sqfs' -noappend -quiet -no-progress -processors 2")
  if [ -e "$tar" ]; then
    qpeers+=(qtar "rm -f '$work/qt.sqfs'; '$lklimg' tar2fs -t squashfs '$tar' '$work/qt.sqfs'")
    if command -v tar2sqfs >/dev/null; then
      qpeers+=(tar2sqfs "rm -f '$work/t.sqfs'; tar2sqfs -q -f -j 2 '$work/t.sqfs' <'$tar'")
    fi
  fi
  timeall "${qpeers[@]}"
  printf '%-44s %8.3fs   image %s\n' "mksquashfs TREE IMAGE" "${T[mksquashfs]}" "$(du -h --apparent-size "$work/m.sqfs" | cut -f1)"
  r=$(ratio "${T[qours]}" "${T[mksquashfs]}")
  printf '%-44s %8.3fs   image %s   ours/mksquashfs = %s (goal <= 1: %s)\n' "lklimg mkfs -t squashfs -d TREE IMAGE" "${T[qours]}" \
    "$(du -h --apparent-size "$work/q.sqfs" | cut -f1)" "$r" "$(goal "$r" '<=' 1)"
  if [ -n "${T[tar2sqfs]:-}" ]; then
    printf '%-44s %8.3fs\n' "tar2sqfs IMAGE <TAR" "${T[tar2sqfs]}"
    r=$(ratio "${T[qtar]}" "${T[tar2sqfs]}")
    printf '%-44s %8.3fs   tar2fs/tar2sqfs = %s (goal <= 1: %s)\n' "lklimg tar2fs -t squashfs TAR IMAGE" "${T[qtar]}" "$r" "$(goal "$r" '<=' 1)"
  fi
  rm -f "$work/q.sqfs" "$work/m.sqfs" "$work/qt.sqfs" "$work/t.sqfs"
fi

# ISO 9660 (issue 16): the corpus tree as a Rock Ridge + Joliet image
# (xorriso), exported by fs2tar against bsdtar's conversion of it to a
# tar (this host's kernel has no iso9660 to loop-mount). Goal: no slower
# than bsdtar.
if row iso && command -v xorriso >/dev/null && command -v bsdtar >/dev/null; then
  xorriso -as mkisofs -quiet -R -J -o "$work/r.iso" "$corpus/rootfs" 2>/dev/null
  echo
  echo "the corpus tree as ISO 9660, Rock Ridge and Joliet ($(du -h "$work/r.iso" | cut -f1))"
  timeall iours "'$fs2tar' '$work/r.iso' - | cat >/dev/null" bsdtar "bsdtar -cf - @'$work/r.iso' | cat >/dev/null"
  printf '%-44s %8.3fs\n' "fs2tar IMAGE - | cat" "${T[iours]}"
  r=$(ratio "${T[iours]}" "${T[bsdtar]}")
  printf '%-44s %8.3fs   fs2tar/bsdtar = %s (goal <= 1: %s)\n' "bsdtar -cf - @IMAGE | cat" "${T[bsdtar]}" "$r" "$(goal "$r" '<=' 1)"
fi

# The large images (bench/big-images.sh makes them once, ~11 GiB of disk):
# a 3 GiB file streamed alone, and peak RSS on a 4 GiB image that also
# holds 100,000 small files. BIG=0 skips them.
if row big && [ "${BIG:-1}" != 0 ]; then
  "$here/bench/big-images.sh" "$corpus"
  cat "$corpus/large.bin" "$corpus/large.ext4" "$corpus/big.ext4" >/dev/null
  echo
  echo "large.ext4: one 3 GiB file of incompressible data"
  # The same bytes two ways: written to /dev/null (the read path alone,
  # as cat FILE >/dev/null reads), and through a pipe to cat.
  timeall lcat "cat '$corpus/large.bin' >/dev/null" lnull "'$fs2tar' '$corpus/large.ext4' /dev/null" \
    lpipe "cat '$corpus/large.bin' | cat >/dev/null" lours "'$fs2tar' '$corpus/large.ext4' - | cat >/dev/null"
  mbs() { printf '%5.0f MB/s' "$(echo "3221.225472 / $1" | bc -l)"; }
  printf '%-44s %8.3fs  %s\n' "cat FILE >/dev/null" "${T[lcat]}" "$(mbs "${T[lcat]}")"
  r=$(ratio "${T[lcat]}" "${T[lnull]}")
  printf '%-44s %8.3fs  %s   speed/cat = %s (goal >= 0.5: %s)\n' "fs2tar IMAGE /dev/null" "${T[lnull]}" \
    "$(mbs "${T[lnull]}")" "$r" "$(goal "$r" '>=' 0.5)"
  printf '%-44s %8.3fs  %s\n' "cat FILE | cat" "${T[lpipe]}" "$(mbs "${T[lpipe]}")"
  r=$(ratio "${T[lpipe]}" "${T[lours]}")
  printf '%-44s %8.3fs  %s   speed/(cat|cat) = %s (goal >= 0.5: %s)\n' "fs2tar IMAGE - | cat" "${T[lours]}" \
    "$(mbs "${T[lours]}")" "$r" "$(goal "$r" '>=' 0.5)"
  echo
  echo "big.ext4: 4 GiB, the 3 GiB file and 100,000 small files, default settings"
  /usr/bin/time -v "$fs2tar" "$corpus/big.ext4" - 2>"$work/time" | cat >/dev/null
  rss=$(awk -F: '/Maximum resident set size/ {print $2+0}' "$work/time")
  wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$work/time")
  r=$(echo "$rss / 1024" | bc -l)
  printf '%-44s %8.1f MiB (goal <= 64: %s), wall %s\n' "fs2tar peak RSS (/usr/bin/time -v)" "$r" "$(goal "$r" '<=' 64)" "$wall"
fi
