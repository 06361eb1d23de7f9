// CRC-64/XZ: liblzma's lzma_crc64 when available (same CRC, hardware carry-less multiply), else
// slice-by-8 tables; zlib-style combination.
#include "http/oss/crc64.hh"

#ifdef OSSURING_HAVE_LZMA
#include <lzma.h>
#endif

#include <array>
#include <bit>
#include <cstring>

namespace ossuring::oss {

namespace {

constexpr uint64_t poly = 0xC96C5795D7870F42ULL;  // reflected ECMA-182

using table_set = std::array<std::array<uint64_t, 256>, 8>;

constexpr table_set make_tables() {
  table_set t{};
  for (uint64_t n = 0; n < 256; ++n) {
    uint64_t c = n;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1) ? poly ^ (c >> 1) : c >> 1;
    }
    t[0][n] = c;
  }
  for (size_t n = 0; n < 256; ++n) {
    uint64_t c = t[0][n];
    for (size_t k = 1; k < 8; ++k) {
      c = t[0][c & 0xff] ^ (c >> 8);
      t[k][n] = c;
    }
  }
  return t;
}

constexpr table_set tables = make_tables();

// 64x64 GF(2) matrix times vector: each matrix row is a column image of one bit.
uint64_t gf2_times(const uint64_t* mat, uint64_t vec) {
  uint64_t sum = 0;
  while (vec != 0) {
    if (vec & 1) {
      sum ^= *mat;
    }
    vec >>= 1;
    ++mat;
  }
  return sum;
}

void gf2_square(uint64_t* square, const uint64_t* mat) {
  for (int n = 0; n < 64; ++n) {
    square[n] = gf2_times(mat, mat[n]);
  }
}

}  // namespace

uint64_t crc64_update(uint64_t crc, const void* data, size_t len) {
#ifdef OSSURING_HAVE_LZMA
  return lzma_crc64(static_cast<const uint8_t*>(data), len, crc);
#else
  return detail::crc64_update_tables(crc, data, len);
#endif
}

uint64_t detail::crc64_update_tables(uint64_t crc, const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  // Slice-by-8 reads 8 bytes as little-endian; the tables assume that byte order.
  while (len >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if constexpr (std::endian::native == std::endian::big) {
      word = __builtin_bswap64(word);
    }
    crc ^= word;
    crc = tables[7][crc & 0xff] ^ tables[6][(crc >> 8) & 0xff] ^ tables[5][(crc >> 16) & 0xff] ^
          tables[4][(crc >> 24) & 0xff] ^ tables[3][(crc >> 32) & 0xff] ^
          tables[2][(crc >> 40) & 0xff] ^ tables[1][(crc >> 48) & 0xff] ^ tables[0][crc >> 56];
    p += 8;
    len -= 8;
  }
  while (len-- != 0) {
    crc = tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

uint64_t crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2) {
  if (len2 == 0) {
    return crc1;
  }
  uint64_t even[64];  // operator for an even power of two zero bits
  uint64_t odd[64];   // operator for an odd power of two zero bits

  // The operator for one zero bit.
  odd[0] = poly;
  uint64_t row = 1;
  for (int n = 1; n < 64; ++n) {
    odd[n] = row;
    row <<= 1;
  }
  gf2_square(even, odd);  // two zero bits
  gf2_square(odd, even);  // four zero bits

  // Apply len2 zero bytes to crc1 (the first squaring gives one zero byte).
  do {
    gf2_square(even, odd);
    if (len2 & 1) {
      crc1 = gf2_times(even, crc1);
    }
    len2 >>= 1;
    if (len2 == 0) {
      break;
    }
    gf2_square(odd, even);
    if (len2 & 1) {
      crc1 = gf2_times(odd, crc1);
    }
    len2 >>= 1;
  } while (len2 != 0);
  return crc1 ^ crc2;
}

}  // namespace ossuring::oss
