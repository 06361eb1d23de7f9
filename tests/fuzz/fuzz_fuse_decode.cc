// libFuzzer target: fs::fuse::decode, which reads requests straight from /dev/fuse, accepts or
// refuses any byte string without reading outside it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fs/fuse/codec.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy so ASan sees any read past the end.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) {
    std::memcpy(copy.get(), data, size);
  }
  auto r = ossuring::fs::fuse::decode(copy.get(), size);
  (void)r;
  return 0;
}
