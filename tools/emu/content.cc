// Deterministic synthetic content, ETags and CRCs.
#include "tools/emu/content.hh"

#include <bit>
#include <cstring>
#include <vector>

#include "http/oss/crc64.hh"

namespace ossuring::emu {

void generate_content(uint64_t seed, uint64_t offset, std::span<std::byte> out) {
  // Byte i of the stream is byte (i % 8) of splitmix64(seed + i / 8), least significant first.
  auto block_bytes = [seed](uint64_t block, unsigned char(&bytes)[8]) {
    uint64_t v = splitmix64(seed + block);
    for (int i = 0; i < 8; ++i) {
      bytes[i] = static_cast<unsigned char>(v >> (8 * i));
    }
  };
  size_t done = 0;
  uint64_t block = offset / 8;
  if (size_t skip = offset % 8; skip != 0) {
    unsigned char bytes[8];
    block_bytes(block++, bytes);
    done = std::min<size_t>(8 - skip, out.size());
    std::memcpy(out.data(), bytes + skip, done);
  }
  // Whole blocks: on a little-endian machine the value's memory image is the byte order.
  for (; out.size() - done >= 8; done += 8, ++block) {
    uint64_t v = splitmix64(seed + block);
    if constexpr (std::endian::native != std::endian::little) {
      v = __builtin_bswap64(v);
    }
    std::memcpy(out.data() + done, &v, 8);
  }
  if (done < out.size()) {
    unsigned char bytes[8];
    block_bytes(block, bytes);
    std::memcpy(out.data() + done, bytes, out.size() - done);
  }
}

std::string content_bytes(std::string_view key, uint64_t size, uint64_t offset, size_t len) {
  std::string s(len, '\0');
  generate_content(content_seed(key, size), offset,
                   std::span<std::byte>(reinterpret_cast<std::byte*>(s.data()), s.size()));
  return s;
}

std::string synthetic_etag(std::string_view key, uint64_t size) {
  static constexpr char hex[] = "0123456789ABCDEF";
  uint64_t a = content_seed(key, size);
  uint64_t b = splitmix64(a ^ 0x5851f42d4c957f2dULL);
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[i] = hex[(a >> (60 - 4 * i)) & 0xf];
    s[16 + i] = hex[(b >> (60 - 4 * i)) & 0xf];
  }
  return s;
}

uint64_t synthetic_crc64(std::string_view key, uint64_t size) {
  constexpr size_t block = 1 << 20;
  std::vector<std::byte> buf(std::min<uint64_t>(block, size));
  uint64_t seed = content_seed(key, size);
  uint64_t crc = oss::crc64_init;
  for (uint64_t off = 0; off < size; off += block) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(block, size - off));
    std::span<std::byte> s(buf.data(), n);
    generate_content(seed, off, s);
    crc = oss::crc64_combine(crc, oss::crc64_update(oss::crc64_init, s), n);
  }
  return crc;
}

}  // namespace ossuring::emu
