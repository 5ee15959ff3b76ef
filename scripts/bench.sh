#!/usr/bin/env bash
# The comparative benchmark: ../shared/bench/bench.sh runs the same workloads on a plain
# directory, kernel overlayfs, fuse-overlayfs, unionfs-fuse and unionmount, and prints ratios to
# the plain directory. Sizes and repetitions come from its environment variables (bench.sh -h),
# e.g. READ_MB=256 WRITE_MB=256 COPYUP_MB=128 REPS=5 BIG_REPS=3 npm run bench
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_SH:-../shared/bench/bench.sh}
[ -f "$bench" ] || { echo "bench: $bench not found (set BENCH_SH)" >&2; exit 2; }
missing=()
for pkg in fuse-overlayfs unionfs-fuse; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm run --silent build
exec bash "$bench" kernel fuse-overlayfs unionfs-fuse \
  "unionmount=cmd:$PWD/dist/cli/main.js --lower {lower} --upper {upper} --work {work} {mnt}"
