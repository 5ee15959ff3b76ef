#!/usr/bin/env bash
# Scaling and memory tables for native-notes/performance.md, as Markdown on stdout. Each row mounts
# the built CLI (dist/) over fresh layers in $SCALE_DIR and times one workload through it:
#   lookups   stat of 2000 names that exist only in the bottom layer, 1/4/16/64 lowers (fresh mount)
#   readdir   ls -f of one merged directory (half the names in each of two lowers), 1k/10k/100k
#   readers   1/4/16 parallel readers of different 32 MiB files (MiB/s in total, fresh mount)
#   memory    daemon peak RSS over find + a stat walk of a 100k-file lower; RSS after each of five
#             rounds of untar 10k files + rm -rf
# usage: bash scripts/scaling.sh [lookups,readdir,readers,memory]   (root; needs `npm run build`)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI="$PWD/dist/cli/main.js"
SCALE_DIR=${SCALE_DIR:-/tmp/unionmount-scaling}
PARTS=${1:-lookups,readdir,readers,memory}
PID=
MNT=$SCALE_DIR/mnt

cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount -u "$MNT" || fusermount -uz "$MNT"; fi
  if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || true; fi
  rm -rf --one-file-system "$SCALE_DIR"
}
trap cleanup EXIT
rm -rf --one-file-system "$SCALE_DIR"
mkdir -p "$SCALE_DIR"

# up LOWERS [--upper]: mounts the lowers (colon-separated) at $MNT, with an upper if asked
up() {
  local args=(--lower "$1")
  rm -rf "$SCALE_DIR/u" "$SCALE_DIR/w" && mkdir -p "$SCALE_DIR/u" "$SCALE_DIR/w" "$MNT"
  [ "${2:-}" = --upper ] && args+=(--upper "$SCALE_DIR/u" --work "$SCALE_DIR/w")
  node "$CLI" "${args[@]}" "$MNT" 2>>"$SCALE_DIR/log" &
  PID=$!
  for _ in $(seq 1 300); do mountpoint -q "$MNT" && return; sleep 0.1; done
  echo "scaling: mount failed: $(tail -1 "$SCALE_DIR/log")" >&2
  exit 1
}
down() {
  fusermount -u "$MNT"
  wait "$PID" || true
  PID=
}
# secs CMD...: wall time of CMD in seconds
secs() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  echo "$EPOCHREALTIME $t0" | awk '{printf "%.3f", $1 - $2}'
}
many() { perl -e 'my ($d,$n,$p)=@ARGV; for (0..$n-1) { open(my $f,">","$d/$p$_") or die; close $f }' "$@"; }
rss() { awk '/^VmHWM|^VmRSS/ {printf "%s %.0f MiB  ", $1, $2/1024}' "/proc/$PID/status"; }

lookups() {
  echo '| lowers | stat of 2000 bottom-only names (s) | per name (µs) |'
  echo '|---|---|---|'
  for n in 1 4 16 64; do
    local dirs=()
    for i in $(seq 1 "$n"); do mkdir -p "$SCALE_DIR/lk$i/d"; dirs+=("$SCALE_DIR/lk$i"); done
    many "$SCALE_DIR/lk$n/d" 2000 f
    up "$(IFS=:; echo "${dirs[*]}")"
    local t
    t=$(secs perl -e 'for (0..1999) { lstat("$ARGV[0]/f$_") or die }' "$MNT/d")
    down
    echo "| $n | $t | $(awk -v t="$t" 'BEGIN {printf "%.0f", t * 1e6 / 2000}') |"
    rm -rf "${dirs[@]}"
  done
}

readdir_scale() {
  echo '| entries | ls -f, first (s) | ls -f, again (s) | per entry, first (µs) |'
  echo '|---|---|---|---|'
  for n in 1000 10000 100000; do
    mkdir -p "$SCALE_DIR/rd1/d" "$SCALE_DIR/rd2/d"
    many "$SCALE_DIR/rd1/d" $((n / 2)) a
    many "$SCALE_DIR/rd2/d" $((n / 2)) b
    up "$SCALE_DIR/rd1:$SCALE_DIR/rd2"
    local a b
    a=$(secs ls -f "$MNT/d")
    b=$(secs ls -f "$MNT/d")
    down
    echo "| $n | $a | $b | $(awk -v t="$a" -v n="$n" 'BEGIN {printf "%.0f", t * 1e6 / n}') |"
    rm -rf "$SCALE_DIR/rd1" "$SCALE_DIR/rd2"
  done
}

readers() {
  echo '| readers | MiB/s in total (32 MiB each, fresh mount) |'
  echo '|---|---|'
  mkdir -p "$SCALE_DIR/rf"
  for i in $(seq 1 16); do head -c $((32 << 20)) /dev/urandom >"$SCALE_DIR/rf/f$i"; done
  cat "$SCALE_DIR"/rf/f* >/dev/null
  for n in 1 4 16; do
    up "$SCALE_DIR/rf"
    local t
    t=$(secs bash -c "for i in \$(seq 1 $n); do dd if=$MNT/f\$i of=/dev/null bs=1M status=none & done; wait")
    down
    echo "| $n | $(awk -v t="$t" -v n="$n" 'BEGIN {printf "%.0f", n * 32 / t}') |"
  done
  rm -rf "$SCALE_DIR/rf"
}

memory() {
  mkdir -p "$SCALE_DIR/big"
  perl -e 'my $r=shift; for my $d (0..99) { mkdir "$r/d$d"; for (0..999) { open(my $f,">","$r/d$d/f$_") or die; close $f } }' \
    "$SCALE_DIR/big"
  up "$SCALE_DIR/big" --upper
  echo "- after mount: $(rss)"
  find "$MNT" >/dev/null
  echo "- after find over 100,000 files: $(rss)"
  find "$MNT" -printf '%s %m\n' >/dev/null
  echo "- after a stat walk of them: $(rss)"
  mkdir -p "$SCALE_DIR/src/small"
  perl -e 'my $r=shift; for my $d (0..99) { mkdir "$r/d$d"; for (0..99) { open(my $f,">","$r/d$d/f$_") or die; print $f "x" x 2000; close $f } }' \
    "$SCALE_DIR/src/small"
  tar cf "$SCALE_DIR/small.tar" -C "$SCALE_DIR/src" small
  for round in 1 2 3 4 5; do
    tar xf "$SCALE_DIR/small.tar" -C "$MNT"
    rm -rf "$MNT/small"
    echo "- untar 10k + rm -rf, round $round: $(rss)"
  done
  down
}

echo "unionmount scaling, $(date -u +%FT%TZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for part in ${PARTS//,/ }; do
  case $part in
    lookups) lookups ;;
    readdir) readdir_scale ;;
    readers) readers ;;
    memory) memory ;;
    *) echo "scaling: unknown part $part" >&2; exit 2 ;;
  esac
  echo
done
