#!/usr/bin/env bash
# Runs the whole ossuring test suite (unit, io-uring, integration, fuzz and lint suites) and ends
# with the line "N passed, N failed, N skipped". Exits non-zero on any failure.
#   tools/test.sh                 the default build (lint, tests/lint/: clang-format, headers
#                                 that compile alone, docs/metrics.md against the metrics, and
#                                 the co_await forms GCC 12 miscompiles; docs/contributing.md)
#   tools/test.sh --sanitize      the address+undefined sanitizer build (build-asan/): unit,
#                                 io-uring and integration suites (the fuzz targets always run
#                                 with ASan+UBSan, built by clang, so they are not repeated)
set -uo pipefail
cd "$(dirname "$0")/.."

builddir=build
suites=(--suite unit --suite io-uring --suite integration --suite fuzz --suite lint)
timeouts=()
setup_args=()
if [[ ${1:-} == --sanitize ]]; then
  builddir=build-asan
  setup_args=(--sanitize)
  suites=(--suite unit --suite io-uring --suite integration)
  # ASan+UBSan runs 2-5x slower than the default build: timeouts stretch to fit, no test skipped.
  timeouts=(--timeout-multiplier 4)
  # Reports of every process (daemons too, whose stderr is a mount log) land in report files;
  # each file counts as one failure below, whatever the test that ran the process concluded.
  reports=$PWD/build-asan/sanitizer-reports
  rm -rf "$reports"
  mkdir -p "$reports"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:log_path=$reports/asan}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan}
  # ASan's quarantine and shadow memory make RSS meaningless: memory-budget tests check what
  # the daemon accounts for and skip their RSS assertions.
  export OSSURING_SANITIZED=1
fi
tools/setup.sh "${setup_args[@]}" || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
meson test -C "$builddir" --num-processes 2 --print-errorlogs "${timeouts[@]}" "${suites[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

count() { awk -v k="$1" '$0 ~ "^"k":" {print $NF}' "$log" | tail -1; }
ok=$(count "Ok"); fail=$(count "Fail"); skipped=$(count "Skipped"); timeout=$(count "Timeout")
xfail=$(count "Unexpected Pass")
ok=${ok:-0}; fail=${fail:-0}; skipped=${skipped:-0}; timeout=${timeout:-0}; xfail=${xfail:-0}
failed=$((fail + timeout + xfail))
if [[ -n ${reports:-} ]]; then
  for r in "$reports"/*; do
    [[ -e $r ]] || continue
    echo "---- sanitizer report $r ----"
    head -40 "$r"
    failed=$((failed + 1))
  done
fi
if [[ $status -ne 0 && $failed -eq 0 ]]; then
  failed=1  # meson itself failed (e.g. a build error): never report green
fi
rm -f "$log"
echo "$ok passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
