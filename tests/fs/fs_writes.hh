// Test helpers shared by the write and rename tests: writable lazy-mode options, byte views,
// a patterned payload, and a whole read through an open handle.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fs/filesystem.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/sync_wait.hh"

namespace ossuring::test {

inline std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Lazy mode (lazy_opts), writable.
inline fs::fs_options rw_opts() {
  fs::fs_options o = lazy_opts();
  o.writable = true;
  return o;
}

// Writable, with multipart uploads above `threshold` in parts of `part` bytes.
inline fs::fs_options multipart_opts(uint64_t threshold, uint64_t part) {
  fs::fs_options o = rw_opts();
  o.multipart_threshold = threshold;
  o.part_size = part;
  return o;
}

// `n` bytes that differ from one 1,000-byte stretch to the next (a misplaced part shows).
inline std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  }
  return s;
}

// Up to `max` bytes of the open handle `fh`, from offset 0, in one read.
inline std::string read_all(fs::filesystem& fs, uint64_t ino, uint64_t fh, size_t max = 1 << 20) {
  std::string out(max, '\0');
  auto n = sync_wait(fs.read(ino, fh, 0, std::as_writable_bytes(std::span(out.data(), max))));
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}

}  // namespace ossuring::test
