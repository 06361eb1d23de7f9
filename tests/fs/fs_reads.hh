// Test helpers shared by the file-system tests: index-mode options, a directory listing, a
// lookup in the root, and reads through open/read/release.
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

// Index mode on bucket "b", prefix "ds/", with small thresholds so tiny objects take each path.
inline fs::fs_options index_opts() {
  fs::fs_options o;
  o.bucket = "b";
  o.prefix = "ds/";
  o.small_file_threshold = 1024;
  o.readahead_min = 256;
  o.readahead_max = 1024;
  return o;
}

// The data-path tests' index mode: small files up to 4 KiB, read-ahead from 256 B to 4 KiB.
inline fs::fs_options data_opts() {
  fs::fs_options o = index_opts();
  o.small_file_threshold = 4096;
  o.readahead_max = 4096;
  return o;
}

// Lazy mode on bucket "b", prefix "root/", attributes trusted for 10 s.
inline fs::fs_options lazy_opts() {
  fs::fs_options o;
  o.mode = fs::fs_mode::lazy;
  o.bucket = "b";
  o.prefix = "root/";
  o.attr_timeout = std::chrono::seconds(10);
  return o;
}

// The names readdir (or readdirplus) returns for directory `ino`, "." and ".." included.
inline std::vector<std::string> list_dir(fs::filesystem& fs, uint64_t ino, bool plus) {
  auto fh = sync_wait(fs.opendir(ino));
  REQUIRE(fh.ok());
  std::vector<std::string> names;
  auto st = sync_wait(fs.readdir(ino, *fh, 0, plus, [&](const fs::dir_entry& e) {
    names.emplace_back(e.name);
    return true;
  }));
  REQUIRE(st.ok());
  fs.releasedir(ino, *fh);
  return names;
}

// The inode of `name` in the root directory.
inline uint64_t ino_of(fs::filesystem& fs, const std::string& name) {
  auto e = sync_wait(fs.lookup(fs::index::root_ino, name));
  REQUIRE(e.ok());
  return e->attr.ino;
}

// Up to `n` bytes of the open handle `fh` from `off`, in one read.
inline std::string read_str(fs::filesystem& fs, uint64_t ino, uint64_t fh, uint64_t off, size_t n) {
  std::vector<std::byte> buf(n);
  auto r = sync_wait(fs.read(ino, fh, off, buf));
  REQUIRE(r.ok());
  return std::string(reinterpret_cast<const char*>(buf.data()), *r);
}

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
