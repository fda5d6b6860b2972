#!/usr/bin/env bash
# make bench: side-by-side wall times of our tools and their peers on the same
# image, in one run, as ratios (median of RUNS runs, page cache warm).
#
#   bench/run.sh [CORPUS_DIR]
#
# The corpus is a Debian minbase rootfs (../shared/bench-corpus.sh builds it:
# rootfs/, rootfs.tar, rootfs.ext4). Loop mounting needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
corpus=${1:-${LKLIMG_CORPUS:-$HOME/.cache/lklimg-corpus}}
if [ ! -e "$corpus/rootfs.ext4" ]; then
  for s in "$here/../shared/bench-corpus.sh" "$here/shared/bench-corpus.sh"; do
    [ -x "$s" ] && { corpus=$(bash "$s" "$corpus"); break; }
  done
fi
img=$corpus/rootfs.ext4
[ -e "$img" ] || { echo "bench: no corpus image at $img (run shared/bench-corpus.sh)" >&2; exit 1; }
fs2tar=$here/bin/fs2tar
work=$(mktemp -d); trap 'umount -q "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/m"

# median TIMES...: the middle value
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timeit CMD: prints the median wall time in seconds of RUNS runs of CMD
timeit() {
  local ts=() s e
  for _ in $(seq "$RUNS"); do
    s=$(date +%s.%N); bash -c "$1" >/dev/null; e=$(date +%s.%N)
    ts+=("$(echo "$e - $s" | bc -l)")
  done
  median "${ts[@]}"
}

cat "$img" >/dev/null # warm the host page cache
t_cat=$(timeit "cat '$img' >/dev/null")
t_ours=$(timeit "'$fs2tar' '$img' - | cat >/dev/null")
echo "image: $img ($(du -h --apparent-size "$img" | cut -f1), $(find "$corpus/rootfs" | wc -l) entries in the source tree)"
printf '%-44s %8.3fs\n' "cat IMAGE (the floor)" "$t_cat"
printf '%-44s %8.3fs\n' "fs2tar IMAGE | cat" "$t_ours"
if [ "$(id -u)" = 0 ]; then
  t_loop=$(timeit "mount -o loop,ro '$img' '$work/m' && tar -C '$work/m' -cf - . | cat >/dev/null; umount '$work/m'")
  printf '%-44s %8.3fs   fs2tar/loop = %.2f (goal <= 0.5)\n' "mount -o loop,ro + tar | cat" "$t_loop" "$(echo "$t_ours / $t_loop" | bc -l)"
fi
if command -v debugfs >/dev/null; then
  t_dbg=$(timeit "rm -rf '$work/d'; mkdir '$work/d'; debugfs -R 'rdump / $work/d' '$img' 2>/dev/null; tar -C '$work/d' -cf - . | cat >/dev/null")
  printf '%-44s %8.3fs   fs2tar/debugfs = %.2f\n' "debugfs rdump + tar | cat" "$t_dbg" "$(echo "$t_ours / $t_dbg" | bc -l)"
fi
printf '%-44s %8s    fs2tar/cat = %.2f\n' "" "" "$(echo "$t_ours / $t_cat" | bc -l)"
