// A million cached blobs of 1 KiB in the memory store, all within its budget: a second pass
// finds every one, the process holds no more descriptors than before, and the memory beyond the
// blobs' own bytes stays under a bound (tools/bench/blob_cache.py prints the measured figure).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "fs/cache/blob_store.hh"
#include "tests/fs/blob_store_util.hh"

using namespace ossuring;
using namespace ossuring::fs;

TEST_CASE("a million cached blobs: second pass all hits, no descriptor, bounded overhead") {
  constexpr uint64_t count = 1'000'000;
  constexpr uint64_t size = 1024;
  const size_t fds = test::open_descriptors();
  const uint64_t rss_before = test::resident_bytes();
  memory_blob_store store(count * size + (64 << 20));
  std::vector<std::byte> data = test::blob_bytes(size, 0);
  auto id_of = [](uint64_t i) {
    char etag[40];
    std::snprintf(etag, sizeof etag, "\"%032llx\"", static_cast<unsigned long long>(i * 7919));
    return blob_store::blob_id(etag, size);
  };
  for (uint64_t i = 0; i < count; ++i) {
    std::memcpy(data.data(), &i, sizeof i);  // each blob's bytes say which it is
    std::vector<std::byte> copy = data;
    auto b = store.store(id_of(i), std::move(copy));
    REQUIRE(b.ok());
  }
  const blob_store_stats st = store.stats();
  CHECK(st.blobs == count);
  CHECK(st.evictions == 0);
  CHECK(st.uncached == 0);
  CHECK(st.descriptors == 0);
  CHECK(test::open_descriptors() == fds);
  uint64_t hits = 0;
  uint64_t right = 0;
  for (uint64_t i = 0; i < count; ++i) {
    std::shared_ptr<blob> b = store.find(id_of(i));
    if (b) {
      ++hits;
      uint64_t first = 0;
      auto n = b->read(0, std::as_writable_bytes(std::span(&first, 1)));
      right += n.ok() && *n == sizeof first && first == i;
    }
  }
  CHECK(hits == count);
  CHECK(right == count);
  CHECK(store.stats().evictions == 0);
  // Bookkeeping: 48-byte entries and a 4-byte table at most 3/4 full.
  const double index_per_blob = static_cast<double>(st.index_bytes) / count;
  CHECK(index_per_blob <= 64);
  // Resident memory beyond the blobs' bytes (slot rounding is none for 1 KiB): the index plus
  // the allocator's and the test's own slack.
  const uint64_t rss_after = test::resident_bytes();
  const double overhead = (static_cast<double>(rss_after) - static_cast<double>(rss_before) -
                           static_cast<double>(count * size)) /
                          count;
  MESSAGE("1M blobs of 1 KiB: index " << index_per_blob << " B/blob, resident overhead " << overhead
                                      << " B/blob, slot bytes " << st.slot_bytes);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's shadow and quarantine inflate RSS
  CHECK(overhead <= 96);
#endif
}
