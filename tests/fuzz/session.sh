#!/bin/sh
# session.sh NAME FUZZER SEEDS [MORE_SEEDS...] -- one short libFuzzer session
# (ctest label "fuzz", only with -DHM_FUZZ=ON and clang). Runs FUZZER for
# $HM_FUZZ_SECONDS (default 60) with one job on a scratch copy of the seeds
# (plus the dictionary tests/fuzz/dict/NAME.dict when there is one), prints
# libFuzzer's final stats (execs, cov, ft) and fails on any crash, leak,
# timeout or out-of-memory; the input is kept as fuzz-NAME-crash-* in the
# build directory.
set -u
name=$1 fuzzer=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
secs=${HM_FUZZ_SECONDS:-60}
work=$(mktemp -d "${TMPDIR:-/tmp}/hm-fuzz-$name-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
for d in "$@"; do
    [ -d "$d" ] && cp -r "$d"/. "$work/corpus/"
done
dict=
[ -f "$here/dict/$name.dict" ] && dict="-dict=$here/dict/$name.dict"
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    $dict -artifact_prefix="$PWD/fuzz-$name-" "$work/corpus" >"$work/log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::(number_of_executed_units|peak_rss_mb)|ERROR|invariant|Test unit' "$work/log" || true
# coverage reached: the last status line with cov/ft (a crashed run prints no DONE line)
grep -E '^#[0-9]+[[:space:]].*cov: [0-9]+ ft: [0-9]+' "$work/log" | tail -1 | sed 's/^/last: /' || true
[ $rc -eq 0 ] || tail -40 "$work/log"
exit $rc
