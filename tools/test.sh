#!/usr/bin/env bash
# Runs the whole ossuring test suite (unit, io-uring and integration suites) and ends with the
# line "N passed, N failed, N skipped". Exits non-zero on any failure.
#   tools/test.sh                 the default build
#   tools/test.sh --sanitize      the address+undefined sanitizer build
set -uo pipefail
cd "$(dirname "$0")/.."

builddir=build
if [[ ${1:-} == --sanitize ]]; then
  builddir=build-asan
fi
tools/setup.sh "$@" || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
meson test -C "$builddir" --num-processes 2 --print-errorlogs \
  --suite unit --suite io-uring --suite integration 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

count() { awk -v k="$1" '$0 ~ "^"k":" {print $NF}' "$log" | tail -1; }
ok=$(count "Ok"); fail=$(count "Fail"); skipped=$(count "Skipped"); timeout=$(count "Timeout")
xfail=$(count "Unexpected Pass")
ok=${ok:-0}; fail=${fail:-0}; skipped=${skipped:-0}; timeout=${timeout:-0}; xfail=${xfail:-0}
failed=$((fail + timeout + xfail))
if [[ $status -ne 0 && $failed -eq 0 ]]; then
  failed=1  # meson itself failed (e.g. a build error): never report green
fi
rm -f "$log"
echo "$ok passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
