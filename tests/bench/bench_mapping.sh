#!/bin/sh
# Room-name pairs scored per second on one core (issue 5 target: >= 1,000,000).
#   tests/bench/bench_mapping.sh [BINARY] [PAIRS]
# Prints the median of 5 runs.
set -eu
BIN=${1:-build/hotelmux}
N=${2:-5000000}
for i in 1 2 3 4 5; do
  "$BIN" map --bench "$N" | sed -n 's/.*: *\([0-9.]*\) *pairs\/s.*/\1/p'
done | sort -n | sed -n 3p | awk '{ printf "room mapping: %.0f pairs/s on one core (median of 5)\n", $1 }'
