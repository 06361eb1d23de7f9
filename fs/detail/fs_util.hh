// Helpers shared by the parts of the file system (fs/meta/, fs/data/, fs/filesystem.cc).
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

#include "core/result.hh"
#include "fs/index.hh"
#include "fs/inode_table.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs::detail {

// A name the mount can show (docs/semantics.md, "Keys that cannot be paths").
inline bool valid_name(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.size() <= index::max_name &&
         n.find('/') == std::string_view::npos && n.find('\0') == std::string_view::npos;
}

// A size a file can show (index::max_file_size): larger ones are skipped like bad names.
inline bool valid_size(uint64_t size) {
  return size <= index::max_file_size;
}

// FNV-1a: the mtime nanoseconds of an ETag, the inode number of a name not looked up yet.
inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

inline error enoent(std::string_view what) {
  return make_error(ENOENT, "no such entry: " + std::string(what));
}

template <typename Object>  // oss::object_info or oss::listed_object
object_attrs attrs_of(const Object& o) {
  object_attrs a;
  a.size = o.size;
  a.mtime_sec = o.mtime_sec;
  a.etag = o.etag;
  a.storage = parse_storage_class(o.storage_class);
  return a;
}

}  // namespace ossuring::fs::detail
