// blob_index: the blob store's per-blob bookkeeping, kept small because a cache may hold
// millions of blobs: a 128-bit digest of the id, the size, where the backend keeps the bytes,
// LRU links and a count of live handles, in 48-byte entries, found through an open-addressing
// table of 4-byte entry numbers. No string, no allocation and no descriptor per blob.
//
// The digest is the first 128 bits of SHA-256(id): two ids of different objects share one only
// with probability ~n^2/2^129 (1e-27 at a million blobs), even when the server picks the ETags.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace ossuring::fs {

struct blob_digest {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const blob_digest&) const = default;
  static blob_digest of(std::string_view id);
};

class blob_index {
 public:
  static constexpr uint32_t none = UINT32_MAX;

  struct entry {
    blob_digest key;
    uint64_t size = 0;
    uint64_t where = 0;    // the backend's place for the bytes (a slab slot; unused on disk)
    uint32_t prev = none;  // LRU neighbours: prev is more recently used
    uint32_t next = none;
    uint32_t handles = 0;  // live blob handles over this entry (the store's hot list included)
    uint32_t live = none;  // the handle's slot in the store's live-handle table, if any
  };
  static_assert(sizeof(entry) == 48);

  blob_index() = default;
  blob_index(const blob_index&) = delete;
  blob_index& operator=(const blob_index&) = delete;

  // The entry number of `key`, or none.
  uint32_t find(const blob_digest& key) const;
  // Adds `key` (not present) as the most recently used entry; returns its number.
  uint32_t insert(const blob_digest& key, uint64_t size, uint64_t where);
  // Removes entry `n` (its number may be reused by a later insert).
  void erase(uint32_t n);

  entry& at(uint32_t n) { return _chunks[n >> chunk_bits][n & chunk_mask]; }
  const entry& at(uint32_t n) const { return _chunks[n >> chunk_bits][n & chunk_mask]; }

  void touch(uint32_t n);                        // most recently used now
  uint32_t lru_oldest() const { return _tail; }  // none when empty
  uint32_t lru_newer(uint32_t n) const { return at(n).prev; }

  uint64_t size() const { return _count; }
  // Bytes the bookkeeping takes (entries, table, free list), for stats and the scale test.
  uint64_t memory_bytes() const;

 private:
  static constexpr unsigned chunk_bits = 12;  // 4096 entries (192 KiB) per chunk
  static constexpr uint32_t chunk_mask = (1u << chunk_bits) - 1;

  void unlink(uint32_t n);
  void link_front(uint32_t n);
  void grow_table();
  size_t home(const blob_digest& key) const { return key.lo & (_table.size() - 1); }

  // Entries live in fixed chunks so that growing never moves them (nor copies a million).
  std::vector<std::unique_ptr<entry[]>> _chunks;
  uint32_t _allocated = 0;       // entry numbers handed out so far
  std::vector<uint32_t> _free;   // erased entry numbers, for reuse
  std::vector<uint32_t> _table;  // linear probing, power-of-two size, `none` = empty
  uint64_t _count = 0;
  uint32_t _head = none;  // most recently used
  uint32_t _tail = none;  // least recently used
};

}  // namespace ossuring::fs
