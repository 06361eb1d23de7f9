// Helpers of the blob store tests (test_blob_store*.cc): bytes to store, reading a blob back,
// counting the process's descriptors and its resident memory.
#pragma once

#include <dirent.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fs/cache/blob_store.hh"

namespace ossuring::test {

inline std::vector<std::byte> blob_bytes(size_t n, char c) {
  std::vector<std::byte> v(n);
  std::memset(v.data(), c, n);
  return v;
}

inline std::string read_all(const fs::blob& b) {
  std::string s(b.size(), '\0');
  auto n = b.read(0, std::as_writable_bytes(std::span(s.data(), s.size())));
  s.resize(n.ok() ? *n : 0);
  return s;
}

// Open descriptors of this process.
inline size_t open_descriptors() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      n += e->d_name[0] != '.';
    }
    ::closedir(d);
    --n;  // the one opendir holds
  }
  return n;
}

// Resident memory of this process (VmRSS), in bytes.
inline uint64_t resident_bytes() {
  uint64_t kib = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "VmRSS: %lu kB", &kib) == 1) {
        break;
      }
    }
    std::fclose(f);
  }
  return kib * 1024;
}

}  // namespace ossuring::test
