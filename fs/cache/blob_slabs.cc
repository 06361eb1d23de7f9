// blob_slabs: size classes, extents and chunk release.
#include "fs/cache/blob_slabs.hh"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>

namespace ossuring::fs {

namespace {

constexpr uint64_t page = 4096;
constexpr uint64_t min_chunk = 64 << 10;
constexpr uint64_t extent_target = 64ull << 20;  // per extent, unless one slot is larger

// A location packs the extent number (high 32 bits) and the slot in it (low 32 bits).
uint64_t pack(uint32_t ext, uint32_t slot) {
  return (uint64_t{ext} << 32) | slot;
}

}  // namespace

unsigned blob_slabs::class_of(uint64_t size) {
  if (size <= 128) {
    return static_cast<unsigned>((std::max<uint64_t>(size, 1) + 15) / 16 - 1);  // 0..7
  }
  // (2^k, 2^(k+1)]: eight steps of 2^(k-3); k >= 7.
  const unsigned k = 63 - static_cast<unsigned>(std::countl_zero(size - 1));
  const uint64_t step = uint64_t{1} << (k - 3);
  const uint64_t i = (size - 1 - (uint64_t{1} << k)) / step;  // 0..7
  return 8 + (k - 7) * 8 + static_cast<unsigned>(i);
}

uint64_t blob_slabs::class_slot(unsigned c) {
  if (c < 8) {
    return (c + 1) * 16;
  }
  const unsigned k = (c - 8) / 8 + 7;
  return (uint64_t{1} << k) + ((c - 8) % 8 + 1) * (uint64_t{1} << (k - 3));
}

uint64_t blob_slabs::slot_size(uint64_t size) {
  return class_slot(class_of(size));
}

blob_slabs::~blob_slabs() {
  for (extent& e : _extents) {
    ::munmap(e.base, e.bytes);
  }
}

blob_slabs::size_class& blob_slabs::cls(unsigned c) {
  if (c >= _classes.size()) {
    _classes.resize(c + 1);
  }
  size_class& k = _classes[c];
  if (k.slot == 0) {
    k.slot = class_slot(c);
    k.per_chunk = static_cast<uint32_t>(std::max<uint64_t>(1, min_chunk / k.slot));
    k.chunk_bytes = (k.per_chunk * k.slot + page - 1) / page * page;
  }
  return k;
}

uint64_t blob_slabs::slot_offset(const size_class& k, uint32_t slot) const {
  return (slot / k.per_chunk) * k.chunk_bytes + (slot % k.per_chunk) * k.slot;
}

result<uint64_t> blob_slabs::alloc(uint64_t size) {
  const unsigned c = class_of(size);
  size_class& k = cls(c);
  uint64_t where;
  if (!k.free.empty()) {
    where = k.free.back();
    k.free.pop_back();
  } else {
    if (k.growing == UINT32_MAX) {
      const uint64_t chunks = std::max<uint64_t>(1, extent_target / k.chunk_bytes);
      const uint64_t bytes = chunks * k.chunk_bytes;
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) {
        return make_error(errno, "cannot map a blob extent of " + std::to_string(bytes) + " bytes");
      }
      extent e;
      e.base = static_cast<std::byte*>(p);
      e.bytes = bytes;
      e.cls = c;
      e.slots = static_cast<uint32_t>(chunks * k.per_chunk);
      e.chunk_used.assign(chunks, 0);
      _extents.push_back(std::move(e));
      _mapped += bytes;
      k.growing = static_cast<uint32_t>(_extents.size() - 1);
    }
    extent& e = _extents[k.growing];
    where = pack(k.growing, e.next_unused++);
    if (e.next_unused == e.slots) {
      k.growing = UINT32_MAX;
    }
  }
  extent& e = _extents[where >> 32];
  ++e.chunk_used[static_cast<uint32_t>(where) / k.per_chunk];
  _slot_bytes += k.slot;
  return where;
}

void blob_slabs::free(uint64_t where, uint64_t size) {
  const unsigned c = class_of(size);
  size_class& k = cls(c);
  extent& e = _extents[where >> 32];
  const uint32_t slot = static_cast<uint32_t>(where);
  const uint32_t chunk = slot / k.per_chunk;
  if (--e.chunk_used[chunk] == 0) {
    // No blob left in the chunk: its pages go back to the kernel (zero pages when reused).
    ::madvise(e.base + chunk * k.chunk_bytes, k.chunk_bytes, MADV_DONTNEED);
  }
  k.free.push_back(where);
  _slot_bytes -= k.slot;
}

std::byte* blob_slabs::at(uint64_t where) const {
  const extent& e = _extents[where >> 32];
  const size_class& k = _classes[e.cls];
  return e.base + slot_offset(k, static_cast<uint32_t>(where));
}

}  // namespace ossuring::fs
