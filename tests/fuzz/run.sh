#!/usr/bin/env bash
# run.sh TARGET [libFuzzer args...]: builds the libFuzzer target TARGET with clang++ (ASan +
# UBSan), apart from the gcc build, from the few sources it needs, then fuzzes it for
# FUZZ_SECONDS (default 25) starting from tests/fuzz/corpus/TARGET. Exit 0 = no crash, leak,
# timeout or allocation over the limit; 77 = clang++ or libFuzzer missing (meson's SKIP).
#   FUZZ_BUILD=DIR   where binaries and the working corpus go (default build-fuzz/)
#   FUZZ_SECONDS=N   fuzzing time; 0 only replays the seeds
# Long runs: FUZZ_SECONDS=3600 tests/fuzz/run.sh list_objects -jobs=2
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${1:?usage: run.sh TARGET [libFuzzer args...]}
shift
out=${FUZZ_BUILD:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-25}

cxx=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z $cxx ]]; then
  echo "SKIP: clang++ not installed"
  exit 77
fi

case $target in
  list_objects) srcs=(http/oss/xml.cc http/oss/pugi_pages.cc http/oss/digest.cc http/oss/time.cc http/oss/uri.cc) ;;
  h1_response) srcs=(http/h1_parser.cc) ;;
  fuse_decode) srcs=(fs/fuse/codec.cc) ;;
  sign_v4) srcs=(http/oss/sign.cc http/oss/digest.cc http/oss/time.cc http/oss/uri.cc) ;;
  *) echo "run.sh: unknown target $target" >&2; exit 2 ;;
esac
libs=(-lssl -lcrypto -lpugixml)

mkdir -p "$out"
bin=$out/fuzz_$target
# Rebuild when the binary is missing or older than any source or header it may use.
if [[ ! -x $bin ]] || [[ -n $(find "$here/fuzz_$target.cc" "${srcs[@]/#/$root/}" "$root/core" \
     "$root/http" "$root/fs" -name '*.hh' -newer "$bin" -o -name '*.cc' -newer "$bin" \
     2>/dev/null | head -1) ]]; then
  echo "building $bin"
  "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root" -I/usr/include/fuse3 -D_FILE_OFFSET_BITS=64 \
    -o "$bin.tmp" "$here/fuzz_$target.cc" "${srcs[@]/#/$root/}" "${libs[@]}"
  mv "$bin.tmp" "$bin"
fi

# New inputs go to a working corpus in the build folder; the seeds in the tree stay as written.
work=$out/corpus_$target
mkdir -p "$work"
seeds=$here/corpus/$target
artifacts=$out/artifacts_$target/
mkdir -p "$artifacts"
# -malloc_limit_mb turns an unbounded allocation into a failure; -timeout a hang into one.
limit=(-max_total_time="$seconds")
[[ $seconds == 0 ]] && limit=(-runs=0)  # max_total_time=0 would mean "forever"
exec "$bin" "$work" "$seeds" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
  -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$artifacts" "$@"
