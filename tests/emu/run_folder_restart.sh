#!/bin/sh
# A folder bucket survives an ossemu restart: objects written over HTTP (user metadata, content
# type, a key with a 300-byte component, `.`/`..` components, a directory marker, a key that is
# both an object and a prefix) are read back with their metadata by a new ossemu on the same
# folder, and the sidecar DIR/.ossemu/ never shows up in listings.
# Usage: run_folder_restart.sh <ossemu>
set -eu
ossemu=$1
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 77; }
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/bucket"
echo "a file that was already there" >"$work/bucket/existing.txt"

start() {
  : >"$work/log"
  "$ossemu" --listen 127.0.0.1:0 --anonymous --bucket "folder=$work/bucket" >"$work/log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^ossemu: oss listening on .*:\([0-9]*\)$/\1/p' "$work/log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "ossemu did not start:" >&2; cat "$work/log" >&2; exit 1; }
  base="http://127.0.0.1:$port/folder"
}
stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

long=$(printf 'L%.0s' $(seq 300))
# Keys as sent on the wire (percent-encoded where needed).
keys="plain.bin a a/b marker/ $long/obj dots/%2E%2E/x dots/./y"

start
for k in $keys; do
  curl --path-as-is -sf -X PUT -H "Content-Type: text/x-emu" -H "x-oss-meta-owner: emu $k" \
    -H "x-oss-meta-color: blue" --data-binary "bytes of $k" "$base/$k" >/dev/null ||
    fail "PUT $k"
done
stop

start
for k in $keys; do
  body=$(curl --path-as-is -sf "$base/$k") || fail "GET $k after restart"
  [ "$body" = "bytes of $k" ] || fail "GET $k after restart: '$body'"
  head=$(curl --path-as-is -sfI "$base/$k" | tr -d '\r') || fail "HEAD $k after restart"
  echo "$head" | grep -qi "^x-oss-meta-owner: emu $k\$" || fail "owner of $k lost: $head"
  echo "$head" | grep -qi '^x-oss-meta-color: blue$' || fail "color of $k lost: $head"
  echo "$head" | grep -qi '^content-type: text/x-emu$' || fail "content type of $k lost: $head"
done
list=$(curl --path-as-is -sf "$base/?list-type=2&max-keys=1000") || fail "LIST"
count=$(echo "$list" | grep -o '<Key>' | wc -l)
[ "$count" = 8 ] || fail "listing has $count keys, not 8: $list"
echo "$list" | grep -q '\.ossemu' && fail "the sidecar shows up in the listing: $list"
echo "$list" | grep -q '<Key>existing.txt</Key>' || fail "existing.txt missing: $list"
# Deleting a sidecar key removes it for good.
curl --path-as-is -sf -X DELETE "$base/$long/obj" >/dev/null || fail "DELETE"
stop
start
code=$(curl --path-as-is -s -o /dev/null -w '%{http_code}' "$base/$long/obj")
[ "$code" = 404 ] || fail "deleted key answers $code after restart"
echo "ok"
