// index: the compact, immutable in-memory namespace tree of a bucket prefix (index mode).
//
// Layout: one vector of 48-byte nodes in breadth-first order, so every directory's children are
// one contiguous, name-sorted range (lookup is a binary search, readdir offsets are positions),
// plus one arena holding every name. Inode numbers are node positions + 1 (root = 1), stable for
// the life of the index. Built by `index_builder` from ListObjectsV2 pages that may arrive in any
// order; serialised to a flat, checksummed file for reuse at the next mount.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs {

enum class storage_class : uint8_t {
  standard,
  ia,
  archive,
  cold_archive,
  deep_cold_archive,
  other
};
storage_class parse_storage_class(std::string_view s);
std::string_view storage_class_name(storage_class c);

// Counters of what a build saw; `skipped_*` are keys that cannot be file names (docs/semantics.md).
struct index_stats {
  uint64_t objects = 0;         // file nodes in the tree
  uint64_t directories = 0;     // directory nodes, root included
  uint64_t markers = 0;         // `dir/` marker objects folded into directories
  uint64_t duplicates = 0;      // the same key seen twice (overlapping listings)
  uint64_t shadowed_files = 0;  // objects hidden by a directory of the same name
  uint64_t skipped_keys = 0;    // keys with an empty, `.`, `..` or over-long component, an
                                // absurd size (above index::max_file_size) or ETag
  std::string first_skipped;    // the first skipped key, for the one warning
  bool sorted_keys = false;     // the build sorted keys (its pages were not in order)
};

class index {
 public:
  static constexpr uint64_t root_ino = 1;
  // mtime is stored as u32 seconds since the epoch: valid until 2106-02-07.
  static constexpr size_t max_name = 255;
  // The largest size a file can show: stat's off_t. The kernel refuses a larger one with EIO, so
  // an object listed with a larger <Size> (2^63, 2^64-1: a broken server) is skipped like a
  // key that cannot be a path. OSS itself stores objects of at most 48.8 TiB.
  static constexpr uint64_t max_file_size = static_cast<uint64_t>(INT64_MAX);
  // The longest ETag kept (the index stores its length in 16 bits): longer ones skip the key.
  static constexpr size_t max_etag = UINT16_MAX;

  index();

  size_t node_count() const noexcept { return _nodes.size(); }
  const index_stats& stats() const noexcept { return _stats; }
  int64_t build_time() const noexcept { return _build_time; }

  bool valid(uint64_t ino) const noexcept { return ino >= 1 && ino <= _nodes.size(); }
  bool is_dir(uint64_t ino) const { return at(ino).flags() & flag_dir; }
  // True for a directory that has a `dir/` marker object.
  bool has_marker(uint64_t ino) const { return at(ino).flags() & flag_marker; }
  uint64_t size(uint64_t ino) const { return at(ino).size; }
  uint32_t mtime(uint64_t ino) const { return at(ino).mtime; }
  uint64_t parent(uint64_t ino) const { return uint64_t{at(ino).parent} + 1; }
  std::string_view name(uint64_t ino) const;
  std::string etag(uint64_t ino) const;  // as OSS spells it, without quotes; "" when unknown
  storage_class storage(uint64_t ino) const {
    return static_cast<storage_class>(at(ino).storage());
  }
  // Full path relative to the mount prefix (directories without the trailing '/').
  std::string path(uint64_t ino) const;

  // Children of a directory: inode numbers first .. first+count-1, sorted by name bytewise.
  uint64_t first_child(uint64_t ino) const { return uint64_t{at(ino).first_child} + 1; }
  uint32_t child_count(uint64_t ino) const { return at(ino).child_count; }
  std::optional<uint64_t> lookup(uint64_t parent_ino, std::string_view name) const;

  // Whether `other` describes the same tree node for node: names, sizes, mtimes, ETags, storage
  // classes and shape, so the same inode numbers name the same objects in both.
  bool same_entries(const index& other) const;

  // Memory held by the index (capacities, not sizes) and the part of it that is name bytes.
  size_t bytes_used() const noexcept;
  size_t name_bytes() const noexcept { return _names.size(); }

  // Flat file: header (magic, version, bucket, prefix, build time, counts, SHA-256 of the rest),
  // then nodes, names and the extra arena. `deserialize` refuses a corrupt or foreign image.
  std::vector<std::byte> serialize(std::string_view bucket, std::string_view prefix) const;
  static result<index> deserialize(std::span<const std::byte> image, std::string_view bucket,
                                   std::string_view prefix);
  status save(const std::string& file, std::string_view bucket, std::string_view prefix) const;
  static result<index> load(const std::string& file, std::string_view bucket,
                            std::string_view prefix);

 private:
  friend class index_builder;
  static constexpr uint8_t flag_dir = 1;
  static constexpr uint8_t flag_marker = 2;
  static constexpr uint8_t flag_etag_md5 = 4;    // etag holds 16 raw MD5 bytes
  static constexpr uint8_t flag_etag_extra = 8;  // etag holds offset (u64) + length (u16) in _extra
  static constexpr uint8_t flag_etag_upper = 16;  // the MD5 hex was upper-case (as OSS sends it)

  struct node {
    uint64_t size = 0;
    uint64_t packed = 0;  // name offset:40 | name length:8 | flags:8 | storage class:8
    uint32_t parent = 0;
    uint32_t first_child = 0;
    uint32_t child_count = 0;
    uint32_t mtime = 0;
    uint8_t etag[16] = {};

    uint64_t name_off() const { return packed & ((1ull << 40) - 1); }
    uint32_t name_len() const { return (packed >> 40) & 0xff; }
    uint8_t flags() const { return (packed >> 48) & 0xff; }
    uint8_t storage() const { return (packed >> 56) & 0xff; }
    void pack(uint64_t off, uint32_t len, uint8_t flags, uint8_t storage) {
      packed = off | (uint64_t{len} << 40) | (uint64_t{flags} << 48) | (uint64_t{storage} << 56);
    }
  };
  static_assert(sizeof(node) == 48);

  const node& at(uint64_t ino) const { return _nodes[ino - 1]; }

  std::vector<node> _nodes;
  std::string _names;  // every name, in node order
  std::string _extra;  // ETags that are not plain MD5 hex (multipart "…-3")
  index_stats _stats;
  int64_t _build_time = 0;
};

// Collects listing entries (any order, duplicates allowed), then builds the index in one pass.
// Peak memory during the build is about the key bytes plus ~48 bytes per key.
class index_builder {
 public:
  // `prefix` is the mount prefix ("" or ending with '/'); keys outside it are ignored.
  explicit index_builder(std::string prefix);

  void add(const oss::listed_object& obj);
  void add(std::string_view key, uint64_t size, int64_t mtime_sec, std::string_view etag,
           std::string_view storage = {});
  size_t pending() const noexcept { return _records.size(); }
  // The keys added next are one listing page: in byte order, and disjoint from every other
  // page's range. Lets finish() order pages instead of sorting keys (it checks, and sorts when
  // the pages were not so).
  void start_run() noexcept { _run_next = true; }

  // Consumes the collected entries. `build_time` dates directories that have no marker.
  index finish(int64_t build_time) &&;

 private:
  struct record {
    uint64_t key_off;
    uint64_t size;
    // How the ETag at etag_off is kept: its text, or the 16 bytes of an MD5 hex (and its case).
    enum etag_kind : uint8_t { text, md5_lower, md5_upper };
    uint64_t etag_off;  // into _etags
    uint32_t mtime;
    uint16_t key_len;
    uint16_t etag_len;
    uint8_t storage;
    etag_kind etag_form = text;
  };
  std::string _prefix;
  std::string _keys;   // relative keys, back to back
  std::string _etags;  // etags (see record::etag_kind), back to back
  // Record numbers in the index's key order (duplicates next to each other).
  std::vector<uint32_t> sorted_order();

  std::vector<record> _records;
  std::vector<uint32_t> _runs;  // where each run of rising keys starts in _records
  bool _run_next = false;       // the next key starts a run
  index_stats _stats;
};

}  // namespace ossuring::fs
