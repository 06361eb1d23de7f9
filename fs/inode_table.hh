// inode_table: lazy-mode inodes (numbers handed out on demand, lookup counts for FORGET),
// per-directory listing cache and the negative cache, all timed by an injectable clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fs/index.hh"

namespace ossuring::fs {

using fs_clock = std::chrono::steady_clock;
using clock_fn = std::function<fs_clock::time_point()>;

// What one listing (or a HEAD) says about a name.
struct object_attrs {
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  std::string etag;
  storage_class storage = storage_class::standard;
};

// One directory level as a delimiter listing returned it, sorted by name.
struct dir_listing {
  struct entry {
    std::string name;
    object_attrs attrs;
  };
  std::vector<entry> entries;
  // Until when its attributes are trusted (taken + attr_timeout): a snapshot read later by an
  // open directory handle describes the past, not now.
  fs_clock::time_point expiry{};
  const entry* find(std::string_view name) const;
};

struct lazy_inode {
  uint64_t parent = 0;
  std::string key;  // full object key; directories end with '/', the root is the mount prefix
  object_attrs attrs;
  fs_clock::time_point attr_expiry{};
  uint64_t nlookup = 0;
  std::shared_ptr<const dir_listing> listing;  // directories: last listing, if any
  fs_clock::time_point listing_expiry{};
};

class inode_table {
 public:
  static constexpr uint64_t root_ino = 1;
  explicit inode_table(std::string root_key);

  lazy_inode* get(uint64_t ino);
  // The inode bound to `key`, 0 if none.
  uint64_t find(const std::string& key) const;
  // Returns the inode for `key` (creating it), refreshing its attributes and expiry, unless it
  // holds attributes trusted for longer (learnt later than `a`, which then describes the past):
  // callers reply with the inode's attributes, not `a`.
  uint64_t intern(uint64_t parent, const std::string& key, const object_attrs& a,
                  fs_clock::time_point expiry);
  void add_lookup(uint64_t ino, uint64_t n = 1);
  // Writes: `ino` now names `key` (a rename; an inode that held `key` before is unbound), or
  // no key at all (an unlink). Either way the inode lives on until the kernel forgets it.
  void rebind(uint64_t ino, uint64_t parent, const std::string& key);
  void unbind(uint64_t ino);
  // Drops `n` lookups; an inode with none left is removed (the root never is).
  void forget(uint64_t ino, uint64_t n);
  size_t size() const { return _inodes.size(); }

 private:
  std::unordered_map<uint64_t, lazy_inode> _inodes;
  std::unordered_map<std::string, uint64_t> _by_key;
  uint64_t _next = 2;
};

// ossfs 2.0's negative cache: remembers keys that were not found for
// `oss_negative_cache_timeout` (0 = off), at most `oss_negative_cache_size` entries, LRU.
class negative_cache {
 public:
  negative_cache(std::chrono::nanoseconds timeout, size_t capacity)
      : _timeout(timeout), _capacity(capacity) {}
  bool enabled() const { return _timeout.count() > 0 && _capacity > 0; }
  void insert(const std::string& key, fs_clock::time_point now);
  bool contains(const std::string& key, fs_clock::time_point now);
  void erase(const std::string& key);
  size_t size() const { return _map.size(); }

 private:
  struct item {
    std::string key;
    fs_clock::time_point expiry;
  };
  std::chrono::nanoseconds _timeout;
  size_t _capacity;
  std::list<item> _lru;  // most recent first
  std::unordered_map<std::string, std::list<item>::iterator> _map;
};

}  // namespace ossuring::fs
