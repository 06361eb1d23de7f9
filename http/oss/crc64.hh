// CRC-64/ECMA-182 as OSS computes it (x-oss-hash-crc64ecma; the "XZ" variant: reflected polynomial
// 0xC96C5795D7870F42, init and xorout all ones), incremental and combinable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ossuring::oss {

// The CRC value of the empty input; also the starting point of an incremental computation.
inline constexpr uint64_t crc64_init = 0;

// Extends `crc` (a finished CRC of the preceding bytes, or crc64_init) with `data`:
// crc64_update(crc64_update(0, a), b) == crc64 of a followed by b. liblzma's lzma_crc64.
uint64_t crc64_update(uint64_t crc, const void* data, size_t len);
inline uint64_t crc64_update(uint64_t crc, std::span<const std::byte> data) {
  return crc64_update(crc, data.data(), data.size());
}
inline uint64_t crc64_update(uint64_t crc, std::string_view data) {
  return crc64_update(crc, data.data(), data.size());
}
inline uint64_t crc64(std::string_view data) {
  return crc64_update(crc64_init, data);
}

// The CRC of A followed by B, from crc1 = CRC(A), crc2 = CRC(B) and len2 = |B| (zlib's GF(2)
// matrix method, O(log len2)). Lets parts or ranges checked separately be combined.
uint64_t crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2);

}  // namespace ossuring::oss
