// blob_store: local copies of whole small objects, in memory or in a cache directory, within a
// byte budget, at dataset scale (millions of blobs).
//
// A blob is immutable once stored and identified by the object's ETag and size, so a changed
// object never reuses a stale copy. The store keeps ~48 bytes of bookkeeping per blob
// (fs/cache/blob_index.hh) and no descriptor per blob: the memory backend packs blobs into
// size-classed slots of a few large mappings (fs/cache/blob_slabs.hh), the directory backend keeps
// one file per blob on disk and opens it only while a handle is held, plus a bounded list of
// recently used handles.
//
// What callers hold is a handle (shared_ptr<blob>): one per blob at a time, shared by everyone
// who holds that blob. Its fd() is a readable descriptor over exactly the blob's bytes that a
// FUSE passthrough open registers as backing file: the directory backend's open file, or for
// a memory blob a sealed memfd made on the first fd() call and closed with the handle (the last
// open file of the blob released), so descriptors follow open files, not cached blobs.
//
// Budget: the store keeps what it holds (cached blobs + blobs handed out but not cached +
// reservations for GETs in flight) within `limit` by evicting the least recently used cached blob
// that nobody holds. A blob an open file holds is pinned. When pinned blobs fill the budget, a
// new blob is handed out uncached and freed with its last holder, so the overshoot is bounded by
// what open files hold. Only the budget should stop the cache from growing: when something else
// does (a blob count cap, a mapping or a file the kernel refuses), it is logged once and named in
// stats().limited_by.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"
#include "fs/cache/blob_index.hh"

namespace ossuring::fs {

class blob {
 public:
  virtual ~blob() = default;
  virtual uint64_t size() const = 0;
  // Copies bytes from `offset` into `dest`; returns how many (0 at or past the end).
  virtual result<size_t> read(uint64_t offset, std::span<std::byte> dest) const = 0;
  // A readable fd over exactly the blob's bytes, valid while this handle lives, or -1.
  virtual int fd() const { return -1; }
};

// What a store holds against its budget, for `ossuring stats` and tests.
struct blob_store_stats {
  uint64_t limit = 0;        // 0 = unlimited
  uint64_t bytes = 0;        // cached + uncached-but-held + reserved
  uint64_t blobs = 0;        // cached blobs
  uint64_t pinned = 0;       // cached blobs some open file holds
  uint64_t evictions = 0;    // cached blobs dropped to make room
  uint64_t uncached = 0;     // blobs handed out without caching (budget full of pinned blobs)
  uint64_t reserved = 0;     // bytes reserved for GETs in flight
  uint64_t slot_bytes = 0;   // memory backend: bytes of the slab slots cached blobs take
  uint64_t index_bytes = 0;  // the per-blob bookkeeping (entries and table)
  uint64_t descriptors = 0;  // descriptors the store holds now (open files, memfds)
  uint64_t handles = 0;      // blob handles alive (held by open files or recently used)
  std::string limited_by;    // "" or the last limit other than the budget that refused a blob
};

// Shared with the blobs a store hands out, so an uncached blob can give its bytes back even when
// it outlives the store.
struct blob_accounting {
  uint64_t transient_bytes = 0;
};

struct blob_store_state;  // the index and live handles, shared with the handles (blob_store.cc)

class blob_store {
 public:
  explicit blob_store(uint64_t limit);
  virtual ~blob_store();
  blob_store(const blob_store&) = delete;
  blob_store& operator=(const blob_store&) = delete;
  static std::string blob_id(std::string_view etag, uint64_t size);

  // Finds a cached blob (and marks it recently used).
  std::shared_ptr<blob> find(const std::string& id);
  // Whether `id` is cached, without marking it used (planning a warmup).
  bool contains(const std::string& id) const;
  // Stores `data` under `id` (an existing blob with that id is returned instead). Consumes a
  // reservation of data.size() made with `reserve` when `reserved` is true. Without
  // `cacheable` (an object without an ETag, whose id cannot tell its versions apart) the blob
  // is handed out uncached, and never in place of `data`.
  result<std::shared_ptr<blob>> store(const std::string& id, std::vector<std::byte>&& data,
                                      bool reserved = false, bool cacheable = true);
  // Whether a blob of `size` bytes would be cached now, evicting only blobs nobody holds. A
  // prefetch for which it is false would fetch bytes handed out uncached and freed at once
  // (the budget is full of blobs open files hold), to be fetched again by the open.
  bool room_for(uint64_t size) const;
  // Holds `n` bytes of budget for a GET in flight, evicting to make room. Never fails: the
  // budget may be overshot by pinned blobs and reservations, never by cached unpinned ones.
  void reserve(uint64_t n);
  void unreserve(uint64_t n);
  // Evicts unpinned blobs, least recently used first, until `n` more bytes (and, with
  // `one_more`, one more blob) fit.
  void make_room(uint64_t n, bool one_more = false);
  // Caps the number of cached blobs (0 = no cap). Blobs hold no descriptor: a cap is for tests
  // and deliberate limits, and reaching it is logged as a limit other than the budget.
  void set_max_blobs(uint64_t n) {
    _max_blobs = n;
    make_room(0);
  }
  // Descriptors the store may keep open for recently used blobs that nobody holds (the
  // directory backend's open files; the rest of RLIMIT_NOFILE serves sockets, FUSE and the
  // open files' own blobs). At most 1024 are kept whatever the budget.
  void set_descriptor_budget(uint64_t n);

  blob_store_stats stats() const;
  uint64_t bytes_stored() const { return stats().bytes; }
  uint64_t limit() const { return _limit; }
  uint64_t reserved() const { return _reserved; }

 protected:
  // Backend hooks. `put` stores a cached blob's bytes and returns where; `open` makes the
  // handle of entry `n` (nullptr: the bytes are gone and the entry is dropped; an error: they
  // cannot be opened now, out of descriptors); `drop` frees them; `transient` hands out bytes
  // that are not cached.
  virtual result<uint64_t> put(const blob_digest& key, std::span<const std::byte> data) = 0;
  virtual result<std::shared_ptr<blob>> open(uint32_t n) = 0;
  virtual void drop(const blob_index::entry& e) = 0;
  virtual result<std::shared_ptr<blob>> transient(std::vector<std::byte>& data);
  // Registers a blob found at start-up (directory backend), in oldest-first order.
  void adopt(const blob_digest& key, uint64_t size);
  // Logs once per kind that `what` (not the budget) kept a blob out of the cache.
  void limited(const std::string& what, const std::string& detail);

  std::shared_ptr<blob_store_state> _st;
  std::shared_ptr<blob_accounting> _acct = std::make_shared<blob_accounting>();
  size_t _hot_capacity = 0;  // handles kept alive after their last holder (0: none)

 private:
  result<std::shared_ptr<blob>> handle_of(uint32_t n);
  // The cached blob `key`: nullptr when not cached, an error when it cannot be opened now.
  result<std::shared_ptr<blob>> lookup(const blob_digest& key);
  void evict(uint32_t n);
  bool over(uint64_t n, uint64_t extra) const;

  uint64_t _limit;
  uint64_t _max_blobs = 0;
  uint64_t _cached_bytes = 0;
  uint64_t _reserved = 0;
  uint64_t _evictions = 0;
  uint64_t _uncached = 0;
  std::vector<std::string> _limits_logged;
  std::string _limited_by;
};

// Keeps blobs in RAM, packed into size-classed slabs (fs/cache/blob_slabs.hh). A blob that a
// mapping cannot take (address space, vm.max_map_count) is handed out from the heap, uncached.
class memory_blob_store final : public blob_store {
 public:
  explicit memory_blob_store(uint64_t limit = 0);

 protected:
  result<uint64_t> put(const blob_digest& key, std::span<const std::byte> data) override;
  result<std::shared_ptr<blob>> open(uint32_t n) override;
  void drop(const blob_index::entry& e) override;
};

// Keeps blobs as files `<dir>/<32 hex digits of the id's digest>-<size>`, written to a temporary
// name and renamed into place, so a file under its final name is always complete. Survives
// restarts: the files found at start-up are adopted (oldest first in the LRU order) and opened
// on use. A file is open only while a handle is held or recently used.
class directory_blob_store final : public blob_store {
 public:
  explicit directory_blob_store(std::string dir, uint64_t limit = 0);

 protected:
  result<uint64_t> put(const blob_digest& key, std::span<const std::byte> data) override;
  result<std::shared_ptr<blob>> open(uint32_t n) override;
  void drop(const blob_index::entry& e) override;
  result<std::shared_ptr<blob>> transient(std::vector<std::byte>& data) override;

 private:
  std::string path_of(const blob_digest& key, uint64_t size) const;
  void scan();
  std::string _dir;
};

}  // namespace ossuring::fs
