// The blob store on its own: slab size classes, the digest index, one handle per blob, budgets
// with pinned blobs, descriptors that follow handles and not cached blobs, the cache folder's
// names across restarts, and a million cached blobs (test_blob_store_scale.cc).
#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "core/log.hh"
#include "fs/cache/blob_index.hh"
#include "fs/cache/blob_slabs.hh"
#include "fs/cache/blob_store.hh"
#include "tests/fs/blob_store_util.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::blob_bytes;
using test::open_descriptors;
using test::read_all;

TEST_CASE("slab slots fit their blob with at most an eighth to spare and never overlap") {
  for (uint64_t s : {1ull, 15ull, 16ull, 17ull, 128ull, 129ull, 1000ull, 1024ull, 1025ull, 16000ull,
                     16384ull, 100000ull, 4ull << 20, (4ull << 20) + 1}) {
    const uint64_t slot = blob_slabs::slot_size(s);
    CHECK(slot >= s);
    CHECK(slot - s <= std::max<uint64_t>(16, s / 8));
  }
  blob_slabs slabs;
  std::vector<std::pair<uint64_t, uint64_t>> got;  // (address, size)
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    uint64_t size = 1 + rng() % 70000;
    auto w = slabs.alloc(size);
    REQUIRE(w.ok());
    std::byte* p = slabs.at(*w);
    std::memset(p, i & 0xff, size);  // every byte of the slot is writable
    got.emplace_back(reinterpret_cast<uint64_t>(p), size);
  }
  std::sort(got.begin(), got.end());
  for (size_t i = 1; i < got.size(); ++i) {
    CHECK(got[i - 1].first + got[i - 1].second <= got[i].first);
  }
  // Many blobs, few mappings: each extent is at least 64 MiB of address space.
  CHECK(slabs.extents() <= 80);
}

TEST_CASE("a freed slot is reused by the next blob of its class") {
  blob_slabs slabs;
  auto a = slabs.alloc(1000);
  auto b = slabs.alloc(1000);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const uint64_t before = slabs.slot_bytes();
  slabs.free(*a, 1000);
  CHECK(slabs.slot_bytes() == before - blob_slabs::slot_size(1000));
  auto c = slabs.alloc(990);  // same class
  REQUIRE(c.ok());
  CHECK(*c == *a);
  CHECK(slabs.extents() == 1);
}

TEST_CASE("the digest index finds, erases and reuses entries under churn") {
  blob_index idx;
  std::vector<blob_digest> keys;
  for (int i = 0; i < 20000; ++i) {
    keys.push_back(blob_digest::of("etag" + std::to_string(i) + "-100"));
    idx.insert(keys.back(), 100, static_cast<uint64_t>(i));
  }
  CHECK(idx.size() == 20000);
  for (int i = 0; i < 20000; i += 2) {
    idx.erase(idx.find(keys[i]));
  }
  for (int i = 0; i < 20000; ++i) {
    const uint32_t n = idx.find(keys[i]);
    if (i % 2 == 0) {
      CHECK(n == blob_index::none);
    } else {
      REQUIRE(n != blob_index::none);
      CHECK(idx.at(n).where == static_cast<uint64_t>(i));
    }
  }
  // LRU order: oldest first is the oldest surviving insert; a touch makes it the newest.
  const uint32_t oldest = idx.lru_oldest();
  CHECK(idx.at(oldest).where == 1);
  idx.touch(oldest);
  CHECK(idx.at(idx.lru_oldest()).where == 3);
  CHECK(idx.memory_bytes() < 20000 * 100);
}

TEST_CASE("everyone who holds a blob holds the same handle, and the memory store holds no fd") {
  const size_t fds = open_descriptors();
  memory_blob_store store(1 << 20);
  std::vector<std::shared_ptr<blob>> held;
  for (int i = 0; i < 200; ++i) {
    const std::string id = blob_store::blob_id("E" + std::to_string(i), 1000);
    auto b = store.store(id, blob_bytes(1000, static_cast<char>(i)));
    REQUIRE(b.ok());
    held.push_back(*b);
    CHECK(store.find(id) == *b);  // the same handle while anyone holds it
  }
  CHECK(open_descriptors() == fds);
  CHECK(store.stats().descriptors == 0);
  CHECK(store.stats().pinned == 200);
  CHECK(read_all(*held[7]) == std::string(1000, static_cast<char>(7)));
  held.clear();
  CHECK(store.stats().pinned == 0);
  CHECK(store.stats().handles == 0);
  CHECK(store.stats().blobs == 200);
  CHECK(store.stats().slot_bytes == 200 * blob_slabs::slot_size(1000));
}

TEST_CASE("a memory blob's passthrough fd is a sealed memfd that lives with the handle") {
  memory_blob_store store(1 << 20);
  const std::string id = blob_store::blob_id("E", 5000);
  auto b = store.store(id, blob_bytes(5000, 'q'));
  REQUIRE(b.ok());
  const int fd = (*b)->fd();
  REQUIRE(fd >= 0);
  CHECK((*b)->fd() == fd);
  CHECK(store.find(id)->fd() == fd);  // a second open of the blob: the same backing file
  char buf[4] = {};
  CHECK(::pread(fd, buf, 4, 4996) == 4);
  CHECK(std::string(buf, 4) == "qqqq");
  CHECK(::pwrite(fd, "x", 1, 0) < 0);
  CHECK((::fcntl(fd, F_GET_SEALS) & F_SEAL_WRITE) != 0);
  CHECK(store.stats().descriptors == 1);
  b->reset();
  CHECK(store.stats().descriptors == 0);
  CHECK(::fcntl(fd, F_GETFD) < 0);                             // closed with the last holder
  CHECK(read_all(*store.find(id)) == std::string(5000, 'q'));  // the bytes stay cached
}

TEST_CASE("eviction is least recently used first and never takes a pinned blob") {
  memory_blob_store store(3000);
  auto id = [](int i) { return blob_store::blob_id("E" + std::to_string(i), 1000); };
  auto pinned = store.store(id(0), blob_bytes(1000, 'a'));
  REQUIRE(pinned.ok());
  for (int i = 1; i < 10; ++i) {
    REQUIRE(store.store(id(i), blob_bytes(1000, 'b')).ok());
    CHECK(store.stats().bytes <= 3000);
  }
  CHECK(store.find(id(0)) != nullptr);
  CHECK(store.find(id(9)) != nullptr);
  CHECK(store.find(id(8)) != nullptr);
  CHECK(store.find(id(7)) == nullptr);
  CHECK(store.stats().evictions == 7);
  CHECK(read_all(**pinned) == std::string(1000, 'a'));
}

TEST_CASE("room for a blob counts only what holders pin, not what could be evicted") {
  memory_blob_store store(2500);
  auto id = [](int i) { return blob_store::blob_id("E" + std::to_string(i), 1000); };
  auto a = store.store(id(0), blob_bytes(1000, 'a'));
  REQUIRE(a.ok());
  REQUIRE(store.store(id(1), blob_bytes(1000, 'b')).ok());  // cached, nobody holds it
  CHECK(store.room_for(1000));                              // id(1) can be evicted for it
  CHECK(store.room_for(1500));
  CHECK_FALSE(store.room_for(1501));  // id(0) is pinned
  auto b = store.find(id(1));
  CHECK_FALSE(store.room_for(1000));  // both pinned now: a prefetch would be wasted
  b.reset();
  a->reset();
  CHECK(store.room_for(2500));
  // The cache folder's recently used handles keep a file open, but nobody holds them.
  auto dir = std::filesystem::temp_directory_path() /
             ("ossuring_blobs_room_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    directory_blob_store disk(dir.string(), 2000);
    disk.set_descriptor_budget(256);
    REQUIRE(disk.store(id(0), blob_bytes(1000, 'a')).ok());
    REQUIRE(disk.store(id(1), blob_bytes(1000, 'b')).ok());
    CHECK(disk.stats().descriptors == 2);
    CHECK(disk.room_for(2000));
    auto held = disk.find(id(0));
    CHECK_FALSE(disk.room_for(1001));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a handle outlives its store: its bytes stay readable") {
  std::shared_ptr<blob> b;
  {
    memory_blob_store store(1 << 20);
    b = *store.store(blob_store::blob_id("E", 300), blob_bytes(300, 'z'));
  }
  CHECK(read_all(*b) == std::string(300, 'z'));
}

TEST_CASE("the cache folder holds a descriptor only for held and recently used blobs") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ossuring_blobs_fds_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const size_t fds = open_descriptors();
  {
    directory_blob_store store(dir.string(), 1 << 30);
    store.set_descriptor_budget(256);  // keeps 32 recently used files open
    for (int i = 0; i < 2000; ++i) {
      auto b = store.store(blob_store::blob_id("E" + std::to_string(i), 100),
                           blob_bytes(100, static_cast<char>('a' + i % 26)));
      REQUIRE(b.ok());
    }
    CHECK(store.stats().blobs == 2000);
    CHECK(open_descriptors() <= fds + 32);
    CHECK(store.stats().descriptors <= 32);
    for (int i = 0; i < 2000; ++i) {
      auto b = store.find(blob_store::blob_id("E" + std::to_string(i), 100));
      REQUIRE(b != nullptr);
      CHECK(read_all(*b) == std::string(100, static_cast<char>('a' + i % 26)));
    }
    CHECK(open_descriptors() <= fds + 32);
  }
  CHECK(open_descriptors() == fds);
  // The next start adopts all 2000 without opening any.
  {
    directory_blob_store again(dir.string(), 1 << 30);
    CHECK(again.stats().blobs == 2000);
    CHECK(again.stats().descriptors == 0);
    CHECK(again.contains(blob_store::blob_id("E1999", 100)));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("an older cache folder's files, named by id, are renamed and adopted") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ossuring_blobs_old_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string id = blob_store::blob_id("\"ABC\"", 6);
  {
    FILE* f = std::fopen((dir / "%22ABC%22-6").c_str(), "w");
    std::fputs("abcdef", f);
    std::fclose(f);
    FILE* g = std::fopen((dir / "%22XYZ%22-9").c_str(), "w");  // cut short: not that object
    std::fputs("abc", g);
    std::fclose(g);
  }
  directory_blob_store store(dir.string(), 1 << 20);
  CHECK(store.stats().blobs == 1);
  auto b = store.find(id);
  REQUIRE(b != nullptr);
  CHECK(read_all(*b) == "abcdef");
  CHECK_FALSE(std::filesystem::exists(dir / "%22ABC%22-6"));
  CHECK_FALSE(std::filesystem::exists(dir / "%22XYZ%22-9"));
  b.reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("a limit other than the budget is logged once and named in the stats") {
  memory_blob_store store(1 << 20);
  store.set_max_blobs(2);
  std::vector<std::shared_ptr<blob>> held;
  const uint64_t lines = log_lines_written();
  for (int i = 0; i < 6; ++i) {
    held.push_back(
        *store.store(blob_store::blob_id("E" + std::to_string(i), 10), blob_bytes(10, 'x')));
  }
  CHECK(store.stats().blobs == 2);
  CHECK(store.stats().uncached == 4);
  CHECK(store.stats().limited_by == "max_blobs");
  CHECK(log_lines_written() == lines + 1);  // four blobs refused, one blob_cache_limited line
}

TEST_CASE("empty blobs are cached without a slot") {
  memory_blob_store store(100);
  auto b = store.store(blob_store::blob_id("E", 0), {});
  REQUIRE(b.ok());
  CHECK((*b)->size() == 0);
  CHECK(read_all(**b).empty());
  CHECK(store.stats().slot_bytes == 0);
  CHECK(store.find(blob_store::blob_id("E", 0)) != nullptr);
}
