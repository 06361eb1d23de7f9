#!/bin/sh
# gen-test-certs.sh DIR [NAME...]: creates a throw-away test CA and a server certificate for
# localhost, *.localhost, *.oss.localhost, 127.0.0.1, ::1 and any extra DNS NAMEs (used by unit
# tests, the emulator and the nginx tests). Writes DIR/ca.pem, DIR/ca.key, DIR/server.pem
# (leaf), DIR/server.key and DIR/server-chain.pem (leaf + CA). Never use these outside tests.
# Note: OpenSSL (and browsers) do not match "*.localhost" (a wildcard needs two labels after
# it), so virtual-hosted test buckets should be named like "bucket.oss.localhost" or passed as
# extra NAMEs.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [NAME...]" >&2
  exit 2
fi
dir=$1
shift
sans="DNS:localhost,DNS:*.localhost,DNS:*.oss.localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
  sans="$sans,DNS:$name"
done
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# P-256 keys: fast to generate, accepted everywhere.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 -subj "/CN=ossuring test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$dir/server.key" -out "$tmp/server.csr" -subj "/CN=localhost" 2>/dev/null

cat > "$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans
EXT

openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -set_serial "0x$(openssl rand -hex 8)" -days 825 -extfile "$tmp/ext.cnf" \
  -out "$dir/server.pem" 2>/dev/null

cat "$dir/server.pem" "$dir/ca.pem" > "$dir/server-chain.pem"
chmod 600 "$dir/ca.key" "$dir/server.key"
