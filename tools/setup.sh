#!/usr/bin/env bash
# Installs what ossuring needs on Debian 12 (idempotent, quiet when all is present) and builds it.
#   tools/setup.sh                 build into build/
#   tools/setup.sh --sanitize      build the address+undefined sanitizer tree build-asan/ instead
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  g++ meson ninja-build pkg-config
  liburing-dev libnghttp2-dev libssl-dev libfuse3-dev fuse3 libsimdjson-dev libpugixml-dev
  doctest-dev liblzma-dev
  # tests and tools: peers, protocol tools, network namespaces, plots
  nodejs npm python3 curl ca-certificates openssl iproute2 procps psmisc
  nghttp2-client nginx-light s3fs rclone wrk fio parallel gnuplot-nox
  clang libclang-rt-14-dev clang-format clang-tidy
  # CSI node plugin (tools/csi): gRPC, protobuf; its tests and image (tests/csi, deploy/)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  python3-grpcio python3-protobuf python3-yaml mmdebstrap podman runc kubernetes-client
)

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from outside Debian on some images: accept any working binary.
  if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
  # kubectl (for `kubectl kustomize` of deploy/kubernetes) from another package is as good.
  if [[ $p == kubernetes-client ]] && command -v kubectl >/dev/null; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test-only npm tools (the official ali-oss SDK), pinned by package-lock.json.
if [[ -f tests/node/package.json && ! -d tests/node/node_modules ]]; then
  echo "setup: installing test npm packages"
  if [[ -f tests/node/package-lock.json ]]; then
    npm ci --prefix tests/node --no-audit --no-fund --silent >/dev/null
  else
    npm install --prefix tests/node --no-audit --no-fund --silent >/dev/null
  fi
fi

build() {
  local dir=$1
  shift
  if [[ ! -f $dir/build.ninja ]]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

if [[ ${1:-} == --sanitize ]]; then
  # Only the sanitizer tree: tools/test.sh --sanitize runs the suite there alone.
  build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
else
  build build
fi
