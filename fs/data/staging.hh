// Helpers of the write path (fs/data/writer.cc, upload.cc, part_stream.cc, copy.cc): staged-file
// I/O, OSS's multipart limits and the errors they report.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hh"

namespace ossuring::fs::detail {

inline constexpr size_t max_key_bytes = 1023;          // OSS's limit on a key
inline constexpr uint64_t stage_chunk = 8u << 20;      // GET size when staging an existing object
inline constexpr unsigned max_parts = 10000;           // OSS's limit on a multipart upload
inline constexpr uint64_t min_part_size = 100u << 10;  // OSS's smallest part but the last

inline error erofs() {
  return make_error(EROFS, "read-only file system (writes need a lazy-mode mount with rw)");
}

inline error sys_error(int e, const std::string& what) {
  return make_error(e, what + ": " + std::strerror(e));
}

// Writes all of `data` at `offset`.
inline status pwrite_all(int fd, std::span<const std::byte> data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return sys_error(errno, "writing the staged file");
    }
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

// Reads exactly dest.size() bytes at `offset` (the caller asks only for bytes that exist).
inline status pread_all(int fd, std::span<std::byte> dest, uint64_t offset) {
  while (!dest.empty()) {
    ssize_t n = ::pread(fd, dest.data(), dest.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n < 0 ? sys_error(errno, "reading the staged file")
                   : make_error(EIO, "staged file shorter than its size");
    }
    dest = dest.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

inline std::string_view parent_of(std::string_view key) {
  std::string_view k = key;
  if (k.ends_with('/')) {
    k.remove_suffix(1);
  }
  size_t slash = k.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash + 1);
}

}  // namespace ossuring::fs::detail
