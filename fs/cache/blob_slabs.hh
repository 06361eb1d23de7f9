// blob_slabs: the memory blob store's bytes, packed into size-classed slots of large anonymous
// mappings (extents) instead of one memfd per blob, so a million cached blobs cost a few dozen
// mappings and no descriptor.
//
// Why size classes and not an arena: a blob is freed in LRU order while others next to it stay
// (and some are pinned by open files, their bytes read in place), so an arena would need
// compaction that must move bytes a reader may be reading. With classes a freed slot is reused
// by the next blob of its class as it is. Classes are 16-byte steps up to 128 bytes, then eight
// per doubling, so a slot wastes at most 1/8 of its blob (about 6% on average).
//
// Memory given back: slots are grouped in chunks of at least 64 KiB; a chunk with no blob left
// is returned to the kernel (MADV_DONTNEED) and faulted in again, zeroed, when reused. So the
// resident size follows the bytes cached, not the peak, and a class that stops being used keeps
// only its partly used chunks. Extents are MAP_NORESERVE: their untouched tails cost nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/result.hh"

namespace ossuring::fs {

class blob_slabs {
 public:
  blob_slabs() = default;
  blob_slabs(const blob_slabs&) = delete;
  blob_slabs& operator=(const blob_slabs&) = delete;
  ~blob_slabs();

  // A slot for `size` bytes (size > 0): its location, or the error mmap gave (ENOMEM: the
  // address space, vm.max_map_count or overcommit refused a new extent).
  result<uint64_t> alloc(uint64_t size);
  void free(uint64_t where, uint64_t size);
  std::byte* at(uint64_t where) const;

  // The slot size a blob of `size` bytes takes.
  static uint64_t slot_size(uint64_t size);
  uint64_t slot_bytes() const { return _slot_bytes; }  // bytes of slots holding blobs
  uint64_t mapped_bytes() const { return _mapped; }    // address space reserved
  size_t extents() const { return _extents.size(); }

 private:
  struct extent {
    std::byte* base = nullptr;
    uint64_t bytes = 0;
    unsigned cls = 0;
    uint32_t slots = 0;                // slots the extent holds
    uint32_t next_unused = 0;          // slots below this were handed out at least once
    std::vector<uint16_t> chunk_used;  // blobs per chunk
  };
  struct size_class {
    uint64_t slot = 0;
    uint32_t per_chunk = 0;         // slots per chunk
    uint64_t chunk_bytes = 0;       // page-rounded
    std::vector<uint64_t> free;     // freed slots, reused last-freed first
    uint32_t growing = UINT32_MAX;  // the extent with never-used slots, if any
  };
  static unsigned class_of(uint64_t size);
  static uint64_t class_slot(unsigned c);
  size_class& cls(unsigned c);
  uint64_t slot_offset(const size_class& k, uint32_t slot) const;

  std::vector<size_class> _classes;
  std::vector<extent> _extents;
  uint64_t _slot_bytes = 0;
  uint64_t _mapped = 0;
};

}  // namespace ossuring::fs
