#!/bin/bash
# emu_bench.sh: the emulator's own speed on loopback (a benchmark, not a test; docs/benchmarks.md
# "Emulator"). ossemu is pinned to one core with taskset, the load generators to the other(s):
#   - 4 KiB GETs over HTTP/1.1 keep-alive (wrk) and HTTP/2 h2c with prior knowledge (h2load);
#   - ListObjectsV2 pages of 1,000 keys of a 1M-object synthetic bucket, spread over the key
#     space with start-after, over both protocols.
# Usage: tools/bench/emu_bench.sh [--build DIR] [--seconds N] [--connections N] [--streams N]
#        [--emu-cpu N] [--load-cpus LIST]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${OSSURING_BUILD:-$root/build}
seconds=10
connections=32
streams=8
emu_cpu=0
load_cpus=1
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --emu-cpu) emu_cpu=$2; shift 2 ;;
    --load-cpus) load_cpus=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk h2load taskset; do
  command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
ossemu=$build/tools/ossemu
[ -x "$ossemu" ] || { echo "no $ossemu (build it first)" >&2; exit 2; }

work=$(mktemp -d /tmp/emu-bench.XXXXXX)
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# small: 4 KiB objects; big: the 1M-object bucket for listings.
taskset -c "$emu_cpu" "$ossemu" --listen 127.0.0.1:0 --anonymous \
  --bucket small=flat:1000:4096 --bucket million=flat:1000000:1024 >"$work/emu.out" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do
  grep -q '^ready ' "$work/emu.out" && break
  sleep 0.1
done
endpoint=$(sed -n 's/^ready endpoint=\([^ ]*\).*/\1/p' "$work/emu.out")
[ -n "$endpoint" ] || { cat "$work/emu.out" >&2; exit 1; }

# 1,000 listing pages starting at evenly spread keys (file-0000000 ... file-0999000), so every
# request seeks and renders a fresh page of 1,000 keys.
for i in $(seq 0 999); do
  printf '%s/million/?list-type=2&max-keys=1000&start-after=file-%07d.bin\n' "$endpoint" \
    $((i * 1000))
done >"$work/list_uris"
# wrk takes one URL; a Lua script walks the same 1,000 pages.
cat >"$work/list.lua" <<'EOF'
local i = 0
request = function()
  i = (i + 1) % 1000
  return wrk.format("GET", string.format(
    "/million/?list-type=2&max-keys=1000&start-after=file-%07d.bin", i * 1000))
end
EOF
# Sanity: a page really holds 1,000 keys.
keys=$(curl -s "$endpoint/million/?list-type=2&max-keys=1000&start-after=file-0500000.bin" |
  grep -o '<Key>' | wc -l)
[ "$keys" = 1000 ] || { echo "a listing page has $keys keys, not 1000" >&2; exit 1; }

# CPU seconds (user + system) ossemu has used so far: with other work on the machine, requests per
# emulator CPU-second is the figure that says what one dedicated core would sustain.
emu_cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$emu_pid/stat"
}
per_cpu() {  # requests/s, CPU seconds before -> "N req per emulator CPU-second (X% of a core)"
  local after
  after=$(emu_cpu_seconds)
  awk -v r="$1" -v b="$2" -v a="$after" -v s="$seconds" 'BEGIN {
    c = a - b; if (c <= 0) { print ""; exit }
    printf "  [%.0f req per emulator CPU-second; emulator used %.0f%% of a core]", r * s / c,
           100 * c / s }'
}
wrk_rate() {  # prints requests/s, p50 and p99 of a wrk run
  local before rate
  before=$(emu_cpu_seconds)
  taskset -c "$load_cpus" wrk -t1 -c"$1" -d"${seconds}s" --latency "${@:2}" >"$work/wrk.out"
  rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx/ {bad=$NF} /Socket errors/ {err=$0}
       END {printf "%.0f req/s  p50 %s  p99 %s%s%s", r, p50, p99,
            bad ? "  non-2xx " bad : "", err ? "  " err : ""}' "$work/wrk.out"
  per_cpu "$rate" "$before"
  echo
}
h2load_rate() {  # prints requests/s, mean and max latency, and failures of an h2load run
  local before rate
  before=$(emu_cpu_seconds)
  taskset -c "$load_cpus" h2load -D "$seconds" -c"$1" -m"$2" "${@:3}" >"$work/h2.out" 2>&1 || true
  rate=$(awk '/^finished in/ {print $4}' "$work/h2.out")
  # "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
  # "time for request: min max mean sd +/-sd"
  awk '/^finished in/ {r=$4} /^requests:/ {fail=$10; err=$12} /^status codes:/ {ok=$3}
       /^time for request:/ {mean=$6; max=$5}
       END {printf "%.0f req/s  mean %s  max %s  2xx %s  failed %s errored %s",
            r, mean, max, ok, fail, err}' "$work/h2.out"
  per_cpu "$rate" "$before"
  echo
  grep -q 'Application protocol: h2c' "$work/h2.out" || echo "  (not h2c!)"
}

echo "ossemu pinned to CPU $emu_cpu, load on CPU(s) $load_cpus, ${seconds}s per case," \
  "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "4 KiB GET, HTTP/1.1 keep-alive (wrk, $connections connections):"
echo "  $(wrk_rate "$connections" "$endpoint/small/file-042.bin")"
echo "4 KiB GET, HTTP/2 h2c (h2load, $connections connections x $streams streams):"
echo "  $(h2load_rate "$connections" "$streams" "$endpoint/small/file-042.bin")"
echo "4 KiB GET, HTTP/2 h2c (h2load, 1 connection x 100 streams):"
echo "  $(h2load_rate 1 100 "$endpoint/small/file-042.bin")"
echo "LIST 1,000 keys of 1M, HTTP/1.1 keep-alive (wrk, 8 connections):"
echo "  $(wrk_rate 8 -s "$work/list.lua" "$endpoint")"
echo "LIST 1,000 keys of 1M, HTTP/2 h2c (h2load, 4 connections x 4 streams):"
echo "  $(h2load_rate 4 4 -i "$work/list_uris")"
