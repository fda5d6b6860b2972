# unfinished.sh, sourced by intents.sh and bui.sh: unfinished KIND IMG
# succeeds when the log of IMG holds an intent of KIND (EFI, BUI, ...)
# whose id no done item of its kind (EFD, BUD, ...) names, as
# xfs_logprint -t lists them.
unfinished() {
  local intent=$1 done=${1%I}D
  xfs_logprint -t "$2" 2>/dev/null | awk -v i="$intent" -v d="$done" '
    ($1 == i ":" || $1 == d ":") && $2 ~ /^#regs:/ && match($0, /id: ?0x[0-9a-f]+/) {
      id = substr($0, RSTART, RLENGTH); sub(/id: ?/, "", id)
      if ($1 == i ":") open[id] = 1; else delete open[id]
    }
    END { n = 0; for (k in open) n++; exit n == 0 }'
}
