// Test helper shared by the file-system tests: read a whole file through open/read/release.
#pragma once

#include <doctest/doctest.h>

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fs/filesystem.hh"
#include "tests/support/sync_wait.hh"

namespace ossuring::test {

// Opens inode `ino`, reads it to the end in `chunk`-byte reads, releases it; returns the bytes.
inline std::string cat_ino(fs::filesystem& fs, uint64_t ino, size_t chunk = 1 << 16) {
  auto o = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(o.ok());
  std::string out;
  std::vector<std::byte> buf(chunk);
  for (uint64_t off = 0;; off += chunk) {
    auto n = sync_wait(fs.read(ino, o->fh, off, buf));
    REQUIRE(n.ok());
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
    if (*n < chunk) {
      break;
    }
  }
  fs.release(ino, o->fh);
  return out;
}

}  // namespace ossuring::test
