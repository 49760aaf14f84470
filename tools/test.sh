#!/bin/sh
# Build hotelmux and run every test: first a normal build, then the whole
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
#   tools/test.sh            both passes
#   HM_SKIP_ASAN=1 tools/test.sh   the normal pass only (quick local loop)
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

run_pass() {
  dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS" >/dev/null
  (cd "$dir" && ctest --output-on-failure -j 2 --timeout 300)
}

echo "== tests (RelWithDebInfo) =="
run_pass build
if [ "${HM_SKIP_ASAN:-0}" != "1" ]; then
  echo "== tests under ASan+UBSan =="
  # LuaJIT is not instrumented; leaks are checked by LeakSanitizer.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_pass build-asan -DHM_SANITIZE=ON
fi
