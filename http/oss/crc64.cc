// CRC-64/XZ: liblzma's lzma_crc64 (the same CRC, with hardware carry-less multiply) and
// zlib-style combination.
#include "http/oss/crc64.hh"

#include <lzma.h>

namespace ossuring::oss {

namespace {

constexpr uint64_t poly = 0xC96C5795D7870F42ULL;  // reflected ECMA-182

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
  return lzma_crc64(static_cast<const uint8_t*>(data), len, crc);
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
