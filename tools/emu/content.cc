// Deterministic synthetic content, ETags and CRCs.
#include "tools/emu/content.hh"

#include <cstring>
#include <vector>

#include "http/oss/crc64.hh"

namespace ossuring::emu {

void generate_content(uint64_t seed, uint64_t offset, std::span<std::byte> out) {
  size_t done = 0;
  uint64_t block = offset / 8;
  size_t skip = offset % 8;
  while (done < out.size()) {
    uint64_t v = splitmix64(seed + block);
    unsigned char bytes[8];
    for (int i = 0; i < 8; ++i) {
      bytes[i] = static_cast<unsigned char>(v >> (8 * i));
    }
    size_t n = std::min<size_t>(8 - skip, out.size() - done);
    std::memcpy(out.data() + done, bytes + skip, n);
    done += n;
    skip = 0;
    ++block;
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
