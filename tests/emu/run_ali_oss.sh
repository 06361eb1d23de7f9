#!/bin/sh
# Starts ossemu on a free port and drives it with the official Node SDK (ali_oss_check.js).
# Usage: run_ali_oss.sh <ossemu> <node> <ali_oss_check.js>. Fails (never skips) when node or
# tests/node/node_modules is missing: run `npm ci --prefix tests/node` first.
set -eu
ossemu=$1
node=$2
script=$3
log=$(mktemp)
"$ossemu" --listen 127.0.0.1:0 --access-key-id ak --access-key-secret sk \
  --access-key-id stsak --access-key-secret stssk --sts-token tok \
  --bucket emu-test=memory >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^ossemu: oss listening on .*:\([0-9]*\)$/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "ossemu did not start:" >&2
  cat "$log" >&2
  exit 1
fi
"$node" "$script" "$port"
