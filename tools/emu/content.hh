// Deterministic object content of the emulator's synthetic buckets: byte i of an object is a pure
// function of (key, size, i), so any range is generated in O(length) and readers can verify bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ossuring::emu {

inline constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a of the key mixed with the size: two objects of the same key but different size differ.
inline uint64_t content_seed(std::string_view key, uint64_t size) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : key) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  return splitmix64(h ^ splitmix64(size));
}

// Byte `offset` of the content lives in 8-byte block offset/8: splitmix64(seed + block), stored
// little-endian. Fills `out` with bytes [offset, offset + out.size()).
void generate_content(uint64_t seed, uint64_t offset, std::span<std::byte> out);

// Convenience for tests and readers: the bytes [offset, offset+len) of (key, size) as a string.
std::string content_bytes(std::string_view key, uint64_t size, uint64_t offset, size_t len);

// ETag of a synthetic object: 32 upper-case hex characters derived from (key, size), shaped like
// the MD5 OSS returns for simple uploads (OSS ETags are upper-case). Unquoted.
std::string synthetic_etag(std::string_view key, uint64_t size);

// CRC-64/ECMA-182 of the whole synthetic object, computed in 1 MiB blocks combined with
// crc64_combine (no full materialisation).
uint64_t synthetic_crc64(std::string_view key, uint64_t size);

}  // namespace ossuring::emu
