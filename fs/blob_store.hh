// blob_store: local copies of whole small objects, in memory or in a cache directory, within a
// byte budget.
//
// A blob is immutable once stored and identified by the object's ETag and size, so a changed
// object never reuses a stale copy. Both backends hand out an O_RDONLY fd over exactly the blob's
// bytes that a FUSE passthrough open registers as backing file: the directory backend a file,
// the memory backend a sealed memfd.
//
// Budget: the store keeps what it holds (cached blobs + blobs handed out but not cached +
// reservations for GETs in flight) within `limit` by evicting the least recently used cached blob
// that nobody else holds. A blob an open file (and so a passthrough backing id) holds is pinned:
// the store's shared_ptr is not the only one. When pinned blobs fill the budget, a new blob is
// handed out uncached and freed with its last holder, so the overshoot is bounded by what open
// files hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hh"

namespace ossuring::fs {

class blob {
 public:
  virtual ~blob() = default;
  virtual uint64_t size() const = 0;
  // Copies bytes from `offset` into `dest`; returns how many (0 at or past the end).
  virtual result<size_t> read(uint64_t offset, std::span<std::byte> dest) const = 0;
  // A readable fd over exactly the blob's bytes, or -1 (a memory blob without memfd).
  virtual int fd() const { return -1; }
};

// What a store holds against its budget, for `ossuring stats` and tests.
struct blob_store_stats {
  uint64_t limit = 0;      // 0 = unlimited
  uint64_t bytes = 0;      // cached + uncached-but-held + reserved
  uint64_t blobs = 0;      // cached blobs
  uint64_t pinned = 0;     // cached blobs some open file holds
  uint64_t evictions = 0;  // cached blobs dropped to make room
  uint64_t uncached = 0;   // blobs handed out without caching (budget full of pinned blobs)
  uint64_t reserved = 0;   // bytes reserved for GETs in flight
};

// Shared with the blobs a store hands out, so an uncached blob can give its bytes back even when
// it outlives the store.
struct blob_accounting {
  uint64_t transient_bytes = 0;
};

class blob_store {
 public:
  explicit blob_store(uint64_t limit);
  virtual ~blob_store() = default;
  static std::string blob_id(std::string_view etag, uint64_t size);

  // Finds a cached blob (and marks it recently used).
  std::shared_ptr<blob> find(const std::string& id);
  // Stores `data` under `id` (an existing blob with that id is returned instead). Consumes a
  // reservation of data.size() made with `reserve` when `reserved` is true. Without
  // `cacheable` (an object without an ETag, whose id cannot tell its versions apart) the blob
  // is handed out uncached, and never in place of `data`.
  result<std::shared_ptr<blob>> store(const std::string& id, std::vector<std::byte>&& data,
                                      bool reserved = false, bool cacheable = true);
  // Holds `n` bytes of budget for a GET in flight, evicting to make room. Never fails: the
  // budget may be overshot by pinned blobs and reservations, never by cached unpinned ones.
  void reserve(uint64_t n);
  void unreserve(uint64_t n);
  // Evicts unpinned blobs, least recently used first, until `n` more bytes (and, with
  // `one_more`, one more blob) fit.
  void make_room(uint64_t n, bool one_more = false);
  // Caps the number of cached blobs (0 = no cap): each opened blob holds a file descriptor.
  void set_max_blobs(uint64_t n) {
    _max_blobs = n;
    make_room(0);
  }

  blob_store_stats stats() const;
  uint64_t bytes_stored() const { return stats().bytes; }
  uint64_t limit() const { return _limit; }
  uint64_t reserved() const { return _reserved; }

 protected:
  // Backend hooks. `open_blob` re-opens a blob a previous run left (directory backend).
  virtual result<std::shared_ptr<blob>> make_blob(const std::string& id,
                                                  std::vector<std::byte>&& data, bool cached) = 0;
  virtual std::shared_ptr<blob> open_blob(const std::string&) { return nullptr; }
  virtual void drop_blob(const std::string&) {}
  // Registers a blob found at start-up (directory backend), oldest first.
  void adopt(const std::string& id, uint64_t size);

  std::shared_ptr<blob_accounting> _acct = std::make_shared<blob_accounting>();

 private:
  struct entry {
    std::shared_ptr<blob> b;  // null while not opened (adopted at start-up)
    uint64_t size = 0;
    std::list<std::string>::iterator lru;
  };
  void touch(entry& e);

  uint64_t _limit;
  uint64_t _max_blobs = 0;
  uint64_t _cached_bytes = 0;
  uint64_t _reserved = 0;
  uint64_t _evictions = 0;
  uint64_t _uncached = 0;
  std::list<std::string> _lru;  // front = most recently used
  std::unordered_map<std::string, entry> _entries;
};

// Keeps blobs in RAM, each in a sealed memfd (so passthrough works without a cache directory),
// or in a heap buffer when memfd_create is unavailable.
class memory_blob_store final : public blob_store {
 public:
  explicit memory_blob_store(uint64_t limit = 0) : blob_store(limit) {}

 protected:
  result<std::shared_ptr<blob>> make_blob(const std::string& id, std::vector<std::byte>&& data,
                                          bool cached) override;
};

// Keeps blobs as files `<dir>/<id>`, written to a temporary name and renamed into place, so a
// file under its final name is always complete. Survives restarts: the files found at start-up
// are adopted (oldest first in the LRU order) and opened on first use.
class directory_blob_store final : public blob_store {
 public:
  explicit directory_blob_store(std::string dir, uint64_t limit = 0);

 protected:
  result<std::shared_ptr<blob>> make_blob(const std::string& id, std::vector<std::byte>&& data,
                                          bool cached) override;
  std::shared_ptr<blob> open_blob(const std::string& id) override;
  void drop_blob(const std::string& id) override;

 private:
  std::string path_of(const std::string& id) const;
  std::string _dir;
};

}  // namespace ossuring::fs
