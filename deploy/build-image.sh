#!/usr/bin/env bash
# Builds the ossuring-csi container image from Debian packages only (deploy/Containerfile):
# mmdebstrap extracts the runtime packages from Debian's mirror into rootfs.tar, the executables
# of a build tree are copied in, and podman (else buildah) builds FROM scratch. Run as root on
# Debian 12 after `ninja -C build` (apt-get install mmdebstrap podman).
#   deploy/build-image.sh [--build DIR] [--tag NAME] [--save FILE.tar] [--mirror URL]
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
tag=localhost/ossuring-csi:$(sed -n "s/^  version : '\(.*\)',$/\1/p" meson.build)
save=
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--tag NAME] [--save FILE.tar] [--mirror URL]" >&2; exit 2 ;;
  esac
done

for exe in "$build/tools/ossuring" "$build/tools/csi/ossuring-csi"; do
  [[ -x $exe ]] || { echo "build-image: $exe is missing: ninja -C $build first" >&2; exit 1; }
done
command -v mmdebstrap >/dev/null || { echo "build-image: apt-get install mmdebstrap" >&2; exit 1; }
if command -v podman >/dev/null; then
  builder=(podman build)
elif command -v buildah >/dev/null; then
  builder=(buildah bud)
else
  echo "build-image: apt-get install podman (or buildah)" >&2
  exit 1
fi

# The Debian packages of every library the two executables load (ldd; usrmerge paths tried
# both ways), and CA certificates for HTTPS endpoints. apt adds their dependencies.
packages=ca-certificates
for lib in $(ldd "$build/tools/ossuring" "$build/tools/csi/ossuring-csi" | awk '$3 ~ /^\// {print $3}' | sort -u); do
  real=$(readlink -f "$lib")
  pkg=$({ dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null; } | head -1 | cut -d: -f1)
  [[ -n $pkg ]] || { echo "build-image: no Debian package holds $real" >&2; exit 1; }
  [[ ,$packages, == *,$pkg,* ]] || packages+=,$pkg
done

ctx=$(mktemp -d /tmp/ossuring-csi-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp deploy/Containerfile "$ctx/"
# Without debug information: a third of the size (the build tree keeps it for debugging).
mkdir "$ctx/bin"
cp "$build/tools/ossuring" "$build/tools/csi/ossuring-csi" "$ctx/bin/"
strip --strip-debug "$ctx/bin/ossuring" "$ctx/bin/ossuring-csi"
# --variant=extract: the packages' files only, no dpkg, apt or shell in the image. The hooks
# do what the skipped maintainer scripts would have (the CA bundle) and add the executables
# (extract hooks: the extract variant runs no customize hooks).
mmdebstrap --quiet --variant=extract --include="$packages" \
  --extract-hook='mkdir -p "$1/usr/bin" "$1/etc/ssl/certs" "$1/tmp" "$1/var/tmp" "$1/run" "$1/var/lib/ossuring-csi" "$1/csi"' \
  --extract-hook='chmod 1777 "$1/tmp" "$1/var/tmp"' \
  --extract-hook='cat "$1"/usr/share/ca-certificates/mozilla/*.crt > "$1/etc/ssl/certs/ca-certificates.crt"' \
  --extract-hook='printf "root:x:0:0:root:/root:/usr/sbin/nologin\n" > "$1/etc/passwd"' \
  --extract-hook='printf "root:x:0:\n" > "$1/etc/group"' \
  --extract-hook='printf "hosts: files dns\n" > "$1/etc/nsswitch.conf"' \
  --extract-hook="copy-in $ctx/bin/ossuring $ctx/bin/ossuring-csi /usr/bin" \
  bookworm "$ctx/rootfs.tar" "$mirror"
"${builder[@]}" --quiet -f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "build-image: built $tag"
if [[ -n $save ]]; then
  podman save --quiet -o "$save" "$tag"
  echo "build-image: saved $tag to $save (load it on nodes: ctr -n k8s.io images import $save)"
fi
