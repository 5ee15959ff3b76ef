#!/usr/bin/env bash
# shellcheck disable=SC2016  # the perl programs are in single quotes on purpose
# Scaling and memory tables for native-notes/performance.md, as Markdown on stdout. Each row mounts
# the built CLI (dist/) over fresh layers in $SCALE_DIR and times one workload through it:
#   lookups   stat of 2000 names that exist only in the bottom layer, 1/4/16/64 lowers (fresh mount)
#   readdir   ls -f of one merged directory (half the names in each of two lowers), 1k/10k/100k
#   readers   1/4/16 parallel readers of different 32 MiB files (MiB/s in total, fresh mount)
#   memory    daemon peak RSS over find + a stat walk of a 100k-file lower; RSS after each of five
#             rounds of untar 10k files + rm -rf
#   depth     lstat of a file 1/2/4/.../64 directories below the root of a lower-only tree (fresh
#             mount each): the same path 2000 times, and 200 new names once each; also on the
#             plain lower directory
#   bigfile   dd write (conv=fsync) of a BIG_MB file (default 4096) and a cold read of one, on a
#             plain directory and through the mount (written into the upper, read from a lower);
#             drops the page cache of the whole machine before each read
# With SCALE_OUT=DIR, each part also appends its rows to DIR/<part>.tsv (header line when the file
# is new) for scripts/plot-scaling.sh.
# usage: bash scripts/scaling.sh [lookups,readdir,readers,memory,depth,bigfile]
#        (root; needs `npm run build`; default: all but depth and bigfile)
set -euo pipefail
shopt -s inherit_errexit # a failing command inside $(secs ...) must stop the run, not print a time
[ -z "${SCALE_OUT:-}" ] || SCALE_OUT=$(realpath -m "$SCALE_OUT") # before the cd: relative to the caller
cd "$(dirname "$0")/.."
CLI="$PWD/dist/cli/main.js"
SCALE_DIR=${SCALE_DIR:-/tmp/unionmount-scaling}
SCALE_OUT=${SCALE_OUT:-}
BIG_MB=${BIG_MB:-4096}
PARTS=${1:-lookups,readdir,readers,memory}
PID=
MNT=$SCALE_DIR/mnt
TSV=

cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount -u "$MNT" || fusermount -uz "$MNT"; fi
  if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || true; fi
  rm -rf --one-file-system "$SCALE_DIR"
}
trap cleanup EXIT
rm -rf --one-file-system "$SCALE_DIR"
mkdir -p "$SCALE_DIR"
[ -z "$SCALE_OUT" ] || mkdir -p "$SCALE_OUT"

# up LOWERS [--upper]: mounts the lowers (colon-separated) at $MNT, with an upper if asked
up() {
  local args=(--lower "$1")
  rm -rf "$SCALE_DIR/u" "$SCALE_DIR/w" && mkdir -p "$SCALE_DIR/u" "$SCALE_DIR/w" "$MNT"
  [ "${2:-}" = --upper ] && args+=(--upper "$SCALE_DIR/u" --work "$SCALE_DIR/w")
  "$CLI" "${args[@]}" "$MNT" 2>>"$SCALE_DIR/log" & # as installed: with the shebang's node flags
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
# calc FORMAT EXPR: EXPR (awk arithmetic on numbers measured here) printed with FORMAT
calc() { awk "BEGIN {printf \"$1\", $2}"; }
many() { perl -e 'my ($d,$n,$p)=@ARGV; for (0..$n-1) { open(my $f,">","$d/$p$_") or die; close $f }' "$@"; }
# lstat_us DIR N [NAME]: µs per lstat of DIR/f0 .. DIR/f<N-1> once each, or of DIR/NAME N times;
# timed inside perl, so perl's own start-up (ms) does not swamp a plain directory's µs
lstat_us() {
  perl -MTime::HiRes=time -e 'my ($d, $n, $name) = @ARGV; my $t0 = time;
    for (0 .. $n - 1) { lstat("$d/" . ($name // "f$_")) or die "lstat $d: $!\n" }
    printf "%.2f", (time - $t0) * 1e6 / $n' "$@"
}
# table PART COLUMN...: the head of a Markdown table; with SCALE_OUT, also the header line of
# PART.tsv when that file is new (runs append to it, the plot averages repeated rows)
table() {
  TSV=${SCALE_OUT:+$SCALE_OUT/$1.tsv}
  shift
  printf '| %s ' "$@"; echo '|'
  printf '|---%.0s' "$@"; echo '|'
  if [ -n "$TSV" ] && [ ! -s "$TSV" ]; then (IFS=$'\t'; echo "$*") >"$TSV"; fi
}
# row VALUE...: one row of the current table, on stdout and in its TSV
row() {
  printf '| %s ' "$@"; echo '|'
  if [ -n "$TSV" ]; then (IFS=$'\t'; echo "$*") >>"$TSV"; fi
}

lookups() {
  table lookups lowers 'stat of 2000 bottom-only names (s)' 'per name (µs)'
  for n in 1 4 16 64; do
    local dirs=()
    for i in $(seq 1 "$n"); do mkdir -p "$SCALE_DIR/lk$i/d"; dirs+=("$SCALE_DIR/lk$i"); done
    many "$SCALE_DIR/lk$n/d" 2000 f
    up "$(IFS=:; echo "${dirs[*]}")"
    local us
    us=$(lstat_us "$MNT/d" 2000)
    down
    row "$n" "$(calc %.3f "$us * 2000 / 1e6")" "$(calc %.0f "$us")"
    rm -rf "${dirs[@]}"
  done
}

readdir_scale() {
  table readdir entries 'ls -f, first (s)' 'ls -f, again (s)' 'per entry, first (µs)'
  for n in 1000 10000 100000; do
    mkdir -p "$SCALE_DIR/rd1/d" "$SCALE_DIR/rd2/d"
    many "$SCALE_DIR/rd1/d" $((n / 2)) a
    many "$SCALE_DIR/rd2/d" $((n / 2)) b
    up "$SCALE_DIR/rd1:$SCALE_DIR/rd2"
    local a b
    a=$(secs ls -f "$MNT/d")
    b=$(secs ls -f "$MNT/d")
    down
    row "$n" "$a" "$b" "$(calc %.0f "$a * 1e6 / $n")"
    rm -rf "$SCALE_DIR/rd1" "$SCALE_DIR/rd2"
  done
}

readers() {
  table readers readers 'MiB/s in total (32 MiB each, fresh mount)'
  mkdir -p "$SCALE_DIR/rf"
  for i in $(seq 1 16); do head -c $((32 << 20)) /dev/urandom >"$SCALE_DIR/rf/f$i"; done
  cat "$SCALE_DIR"/rf/f* >/dev/null
  for n in 1 4 16; do
    up "$SCALE_DIR/rf"
    local t
    t=$(secs bash -c "for i in \$(seq 1 $n); do dd if=$MNT/f\$i of=/dev/null bs=1M status=none & done; wait")
    down
    row "$n" "$(calc %.0f "$n * 32 / $t")"
  done
  rm -rf "$SCALE_DIR/rf"
}

# mem_row MOMENT: a row with the daemon's peak (VmHWM) and current RSS, in MiB
mem_row() {
  local hwm rss
  read -r hwm rss < <(awk '/^VmHWM/ {h = $2} /^VmRSS/ {r = $2} END {printf "%.0f %.0f\n", h / 1024, r / 1024}' \
    "/proc/$PID/status")
  row "$1" "$hwm" "$rss"
}

memory() {
  table memory moment 'peak RSS, VmHWM (MiB)' 'RSS (MiB)'
  mkdir -p "$SCALE_DIR/big"
  perl -e 'my $r=shift; for my $d (0..99) { mkdir "$r/d$d"; for (0..999) { open(my $f,">","$r/d$d/f$_") or die; close $f } }' \
    "$SCALE_DIR/big"
  up "$SCALE_DIR/big" --upper
  mem_row 'after mount'
  find "$MNT" >/dev/null
  mem_row 'after find over 100,000 files'
  find "$MNT" -printf '%s %m\n' >/dev/null
  mem_row 'after a stat walk of them'
  mkdir -p "$SCALE_DIR/src/small"
  perl -e 'my $r=shift; for my $d (0..99) { mkdir "$r/d$d"; for (0..99) { open(my $f,">","$r/d$d/f$_") or die; print $f "x" x 2000; close $f } }' \
    "$SCALE_DIR/src/small"
  tar cf "$SCALE_DIR/small.tar" -C "$SCALE_DIR/src" small
  for round in 1 2 3 4 5; do
    tar xf "$SCALE_DIR/small.tar" -C "$MNT"
    rm -rf "$MNT/small"
    mem_row "untar 10k + rm -rf, round $round"
  done
  down
}

# The first walk is the telling column: on a fresh mount every directory on the way and every
# name is a FUSE lookup (the directories once per depth, amortized over the 200 names); repeated
# lstats of one path may be answered from the kernel's caches.
depth() {
  table depth depth 'µs per lstat, repeated' 'µs per first lstat' 'plain: µs per lstat, repeated' \
    'plain: µs per first lstat' 'ratio to plain, first'
  for d in 1 2 4 8 16 32 64; do
    local rel=
    for _ in $(seq 1 "$d"); do rel+=/d; done
    mkdir -p "$SCALE_DIR/dp$rel"
    many "$SCALE_DIR/dp$rel" 200 f
    local pf pr uf ur
    pf=$(lstat_us "$SCALE_DIR/dp$rel" 200)
    pr=$(lstat_us "$SCALE_DIR/dp$rel" 2000 f0)
    up "$SCALE_DIR/dp"
    uf=$(lstat_us "$MNT$rel" 200)
    ur=$(lstat_us "$MNT$rel" 2000 f0)
    down
    row "$d" "$ur" "$uf" "$pr" "$pf" "$(calc %.0f "$uf / $pf")"
    rm -rf "$SCALE_DIR/dp"
  done
}

# wr FILE: MiB/s of writing BIG_MB MiB of zeros to FILE, flushed to disk before dd ends
wr() { calc %.0f "$BIG_MB / $(secs dd if=/dev/zero of="$1" bs=1M count="$BIG_MB" conv=fsync status=none)"; }
# rd FILE: MiB/s of reading FILE cold: the page cache (lower, upper and FUSE pages alike) dropped first
rd() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
  calc %.0f "$BIG_MB / $(secs dd if="$1" of=/dev/null bs=1M status=none)"
}

bigfile() {
  table bigfile 'file (MiB)' operation 'plain (MiB/s)' 'unionmount (MiB/s)' 'ratio to plain (time)'
  mkdir -p "$SCALE_DIR/bp" "$SCALE_DIR/bl"
  local pw pr uw ur
  pw=$(wr "$SCALE_DIR/bp/f")
  pr=$(rd "$SCALE_DIR/bp/f")
  # the plain file becomes the lower's file to read through the mount: no second big write
  mv "$SCALE_DIR/bp/f" "$SCALE_DIR/bl/f"
  up "$SCALE_DIR/bl" --upper
  uw=$(wr "$MNT/w")
  ur=$(rd "$MNT/f")
  down
  row "$BIG_MB" 'sequential write, conv=fsync' "$pw" "$uw" "$(calc %.2f "$pw / $uw")"
  row "$BIG_MB" 'sequential read, cold' "$pr" "$ur" "$(calc %.2f "$pr / $ur")"
  rm -rf "$SCALE_DIR/bp" "$SCALE_DIR/bl" "$SCALE_DIR/u" "$SCALE_DIR/w"
}

echo "unionmount scaling, $(date -u +%FT%TZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for part in ${PARTS//,/ }; do
  case $part in
    lookups) lookups ;;
    readdir) readdir_scale ;;
    readers) readers ;;
    memory) memory ;;
    depth) depth ;;
    bigfile) bigfile ;;
    *) echo "scaling: unknown part $part" >&2; exit 2 ;;
  esac
  echo
done
