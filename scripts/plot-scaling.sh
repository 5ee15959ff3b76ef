#!/usr/bin/env bash
# Draws the scaling plot (one SVG, one panel per part) from the TSVs that
# `SCALE_OUT=DIR bash scripts/scaling.sh ...` leaves in DIR. A part without its TSV has no panel;
# rows repeated over runs are averaged (smooth unique).
# usage: bash scripts/plot-scaling.sh DIR [OUT]   (OUT defaults to native-notes/scaling.svg)
set -euo pipefail
dir=$(realpath "${1:?usage: bash scripts/plot-scaling.sh DIR [OUT]}")
out=$(realpath -m "${2:-$(dirname "$0")/../native-notes/scaling.svg}")

# gnuplot-nox: the plot needs only the svg terminal, not X or Qt
if ! command -v gnuplot >/dev/null; then
  echo "plot-scaling: installing gnuplot-nox (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
fi

# has PART: the part's TSV holds at least one row below its header
has() { [ -f "$dir/$1.tsv" ] && [ "$(wc -l <"$dir/$1.tsv")" -gt 1 ]; }
# each panel starts from linear axes from 0: settings carry over from the previous panel
new="unset logscale; set yrange [0:*];"
lp='skip 1 smooth unique with linespoints'
panels=()
has lookups && panels+=("$new set title 'lookup of a bottom-only name'; set xlabel 'lowers';
  set ylabel 'µs per stat'; plot '$dir/lookups.tsv' using 1:3 $lp notitle")
has readdir && panels+=("$new set logscale x; set title 'merged readdir (ls -f)'; set xlabel 'entries';
  set ylabel 'µs per entry'; plot '$dir/readdir.tsv' using 1:(\$2*1e6/\$1) $lp title 'first',
  '' using 1:(\$3*1e6/\$1) $lp title 'again'")
# log y: through the mount a first lookup costs hundreds of µs, the plain directory a few
has depth && panels+=("$new set logscale x 2; set logscale y; set autoscale y; set title 'lstat by path depth';
  set xlabel 'directories below the root'; set ylabel 'µs per lstat';
  plot '$dir/depth.tsv' using 1:3 $lp title 'first', '' using 1:2 $lp title 'repeated',
  '' using 1:5 $lp title 'plain, first', '' using 1:4 $lp title 'plain, repeated'")
has readers && panels+=("$new set title 'parallel readers (32 MiB each)'; set xlabel 'readers';
  set ylabel 'MiB/s in total'; plot '$dir/readers.tsv' using 1:2 $lp notitle")
[ ${#panels[@]} -gt 0 ] || { echo "plot-scaling: no TSV with rows in $dir" >&2; exit 1; }

# one row of panels for up to two, else two rows
cols=$((${#panels[@]} < 2 ? ${#panels[@]} : 2))
rows=$(((${#panels[@]} + 1) / 2))
{
  echo "set terminal svg size $((cols * 480)),$((rows * 360 + 40)) dynamic font 'sans,11'"
  echo "set output '$out'"
  echo 'set datafile separator tab; set grid; set key top left'
  echo "set multiplot layout $rows,$cols title 'unionmount scaling ($(date -u +%F), $(basename "$dir"))'"
  printf '%s\n' "${panels[@]//$'\n'/ }" # a gnuplot command ends at a newline
  echo 'unset multiplot'
} | gnuplot
echo "plot-scaling: wrote $out (${#panels[@]} panels)"
