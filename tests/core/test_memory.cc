// tune_malloc: large blocks stay on the heap, freed heap stays in the process, and a user's
// GLIBC_TUNABLES choice is left alone.
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include <doctest/doctest.h>

#include "core/memory.hh"

using namespace ossuring;

TEST_CASE("a malloc threshold named in GLIBC_TUNABLES leaves the allocator as it is") {
  CHECK_FALSE(tune_malloc("glibc.malloc.trim_threshold=1048576").applied);
  CHECK_FALSE(tune_malloc("glibc.pthread.rseq=0:glibc.malloc.mmap_threshold=65536").applied);
}

TEST_CASE("after tune_malloc, listing-page-sized blocks are neither mmapped nor trimmed away") {
  malloc_settings s = tune_malloc("glibc.pthread.rseq=1");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's allocator replaces glibc's: its mallopt refuses, and nothing of the heap
  // below is observable.
  (void)s;
#else
  REQUIRE(s.applied);
  CHECK(s.mmap_threshold == malloc_mmap_threshold);
  CHECK(s.trim_threshold == malloc_trim_threshold);
  // 64 blocks of 256 KiB (a listing page is ~220 KB): glibc's default mmaps the first one, and
  // trims the heap's top when they are all freed.
  constexpr size_t block = 256u << 10;
  struct mallinfo2 before = ::mallinfo2();
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    void* p = std::malloc(block);
    REQUIRE(p != nullptr);
    std::memset(p, 0x5a, block);
    blocks.push_back(p);
  }
  struct mallinfo2 held = ::mallinfo2();
  CHECK(held.hblks == before.hblks);
  CHECK(held.arena >= before.arena + 64 * block);
  for (void* p : blocks) {
    std::free(p);
  }
  struct mallinfo2 after = ::mallinfo2();
  CHECK(after.arena == held.arena);
  CHECK(after.fordblks >= 64 * block);
#endif
}
