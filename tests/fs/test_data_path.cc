// The data path against the mock: memfd blobs, budgets and eviction, prefetch across files,
// direct mode, read-ahead within the buffer budget and interrupted reads (failed reads and
// CRC-64 checks: test_read_failures.cc).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "fs/filesystem.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::ino_of;
using test::read_str;
using test::start;
using test::sync_wait;

namespace {

// `n` files ds/f00.. of `size` bytes, each filled with its own letter.
void put_files(test::mock_client& mock, int n, size_t size) {
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "ds/f%02d", i);
    mock.put(name, std::string(size, static_cast<char>('a' + i % 26)));
  }
}

std::string name_of(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "f%02d", i);
  return name;
}

// Opens, reads whole, releases; returns the bytes.
std::string cat(filesystem& fs, const std::string& name) {
  return test::cat_ino(fs, ino_of(fs, name));
}

}  // namespace

TEST_CASE("without a cache folder, small files get a sealed memfd for passthrough") {
  test::mock_client mock;
  mock.put("ds/p", "passthrough from memory");
  filesystem fs(mock, test::data_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  auto o = sync_wait(fs.open(ino_of(fs, "p"), O_RDONLY));
  REQUIRE(o.ok());
  REQUIRE(o->backing_fd >= 0);
  char buf[64] = {};
  CHECK(::pread(o->backing_fd, buf, sizeof buf, 0) == 23);
  CHECK(std::string(buf) == "passthrough from memory");
  int seals = ::fcntl(o->backing_fd, F_GET_SEALS);
  CHECK((seals & F_SEAL_WRITE) != 0);
  CHECK((seals & F_SEAL_SHRINK) != 0);
  CHECK(::pwrite(o->backing_fd, "x", 1, 0) < 0);  // nobody can change a blob's bytes
}

TEST_CASE("the memory budget evicts least recently used blobs and never exceeds its limit") {
  test::mock_client mock;
  put_files(mock, 10, 1000);
  filesystem fs(mock, test::data_opts(), std::make_unique<memory_blob_store>(3000));
  REQUIRE(sync_wait(fs.build_index()).ok());
  for (int i = 0; i < 10; ++i) {
    CHECK(cat(fs, name_of(i)) == std::string(1000, static_cast<char>('a' + i)));
    CHECK(fs.cache_stats().bytes <= 3000);
  }
  CHECK(mock.calls.get == 10);
  CHECK(fs.cache_stats().blobs == 3);
  CHECK(fs.cache_stats().evictions == 7);
  // The three most recent are still there; the oldest costs a new GET.
  cat(fs, name_of(9));
  cat(fs, name_of(7));
  CHECK(mock.calls.get == 10);
  cat(fs, name_of(0));
  CHECK(mock.calls.get == 11);
  // 8 was the least recently used of {7, 8, 9}: it made room for 0.
  cat(fs, name_of(9));
  cat(fs, name_of(7));
  CHECK(mock.calls.get == 11);
}

TEST_CASE("a blob an open file holds is never evicted and reads stay correct") {
  test::mock_client mock;
  put_files(mock, 12, 1000);
  filesystem fs(mock, test::data_opts(), std::make_unique<memory_blob_store>(3000));
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t held = ino_of(fs, name_of(0));
  auto o = sync_wait(fs.open(held, O_RDONLY));
  REQUIRE(o.ok());
  for (int i = 1; i < 12; ++i) {
    cat(fs, name_of(i));
  }
  CHECK(fs.cache_stats().pinned == 1);
  CHECK(fs.cache_stats().bytes <= 3000);
  CHECK(read_str(fs, held, o->fh, 0, 2000) == std::string(1000, 'a'));
  char buf[8] = {};
  CHECK(::pread(o->backing_fd, buf, 4, 996) == 4);  // the passthrough fd still reads
  CHECK(std::string(buf) == "aaaa");
  // Still cached: reopening costs no GET.
  unsigned gets = mock.calls.get;
  cat(fs, name_of(0));
  CHECK(mock.calls.get == gets);
  fs.release(held, o->fh);
  CHECK(fs.cache_stats().pinned == 0);
}

TEST_CASE("when pinned blobs fill the budget, new blobs are handed out uncached and freed") {
  test::mock_client mock;
  put_files(mock, 5, 1000);
  filesystem fs(mock, test::data_opts(), std::make_unique<memory_blob_store>(2500));
  REQUIRE(sync_wait(fs.build_index()).ok());
  std::vector<std::pair<uint64_t, uint64_t>> open;
  for (int i = 0; i < 5; ++i) {
    uint64_t ino = ino_of(fs, name_of(i));
    auto o = sync_wait(fs.open(ino, O_RDONLY));
    REQUIRE(o.ok());
    CHECK(read_str(fs, ino, o->fh, 0, 10) == std::string(10, static_cast<char>('a' + i)));
    open.emplace_back(ino, o->fh);
  }
  CHECK(fs.cache_stats().uncached == 3);
  CHECK(fs.cache_stats().bytes == 5000);  // held by open files: over the limit, but counted
  // Prefetch (on by default) skips what could not be cached: no object is fetched twice.
  CHECK(mock.calls.get == 5);
  for (auto [ino, fh] : open) {
    fs.release(ino, fh);
  }
  CHECK(fs.cache_stats().bytes == 2000);  // the uncached ones went with their last holder
}

TEST_CASE("unpinned handles (noopen mode) leave blobs to the budget and refetch after eviction") {
  test::mock_client mock;
  put_files(mock, 12, 1000);
  filesystem fs(mock, test::data_opts(), std::make_unique<memory_blob_store>(3000));
  REQUIRE(sync_wait(fs.build_index()).ok());
  // Twelve handles kept open, as the kernel keeps noopen's implicit handles until FORGET.
  std::vector<std::pair<uint64_t, uint64_t>> open;
  for (int i = 0; i < 12; ++i) {
    uint64_t ino = ino_of(fs, name_of(i));
    auto o = sync_wait(fs.open(ino, O_RDONLY, nullptr, false));
    REQUIRE(o.ok());
    CHECK(o->backing_fd == -1);
    CHECK(read_str(fs, ino, o->fh, 0, 10) == std::string(10, static_cast<char>('a' + i)));
    open.emplace_back(ino, o->fh);
    CHECK(fs.cache_stats().bytes <= 3000);
    CHECK(fs.cache_stats().pinned == 0);
  }
  CHECK(fs.cache_stats().blobs == 3);
  CHECK(mock.calls.get == 12);
  // The first file's blob was evicted: reading through its handle fetches it again, correctly.
  auto [ino0, fh0] = open[0];
  CHECK(read_str(fs, ino0, fh0, 990, 100) == std::string(10, 'a'));
  CHECK(mock.calls.get == 13);
  // ... and now it is cached again: no further GET.
  CHECK(read_str(fs, ino0, fh0, 0, 4) == "aaaa");
  CHECK(mock.calls.get == 13);
  CHECK(fs.cache_stats().bytes <= 3000);
  for (auto [ino, fh] : open) {
    fs.release(ino, fh);
  }
}

TEST_CASE("the cache folder keeps within --cache-size and adopts its files after a restart") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ossuring_fs2_blobs_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  test::mock_client mock;
  put_files(mock, 6, 1000);
  {
    filesystem fs(mock, test::data_opts(),
                  std::make_unique<directory_blob_store>(dir.string(), 2000));
    REQUIRE(sync_wait(fs.build_index()).ok());
    for (int i = 0; i < 6; ++i) {
      cat(fs, name_of(i));
    }
    CHECK(fs.cache_stats().blobs == 2);
    CHECK(fs.cache_stats().evictions == 4);
  }
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  CHECK(files == 2);
  directory_blob_store again(dir.string(), 2000);
  CHECK(again.stats().blobs == 2);
  CHECK(again.stats().bytes == 2000);
  CHECK(again.find(blob_store::blob_id(mock.find("ds/f05")->etag, 1000)) != nullptr);
  CHECK(again.find(blob_store::blob_id(mock.find("ds/f00")->etag, 1000)) == nullptr);
  // A smaller budget at the next start evicts down to it at once.
  {
    directory_blob_store smaller(dir.string(), 1000);
    CHECK(smaller.stats().bytes <= 1000);
  }
  // A blob file cut short (a crash after the rename, before the data reached the disk) is
  // not that object: dropped at start-up, and the object is fetched again.
  std::filesystem::path kept = std::filesystem::directory_iterator(dir)->path();
  std::filesystem::resize_file(kept, 400);
  {
    filesystem fs(mock, test::data_opts(),
                  std::make_unique<directory_blob_store>(dir.string(), 2000));
    REQUIRE(sync_wait(fs.build_index()).ok());
    CHECK(fs.cache_stats().blobs == 0);
    CHECK_FALSE(std::filesystem::exists(kept));
    const unsigned gets = mock.calls.get;
    CHECK(cat(fs, "f05") == std::string(1000, 'f'));
    CHECK(mock.calls.get == gets + 1);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a cache folder that cannot take a blob still hands out the fetched bytes") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ossuring_fs3_blobs_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  directory_blob_store store(dir.string(), 1 << 20);
  std::filesystem::remove_all(dir);  // as a full or failing disk would: nothing can be written
  std::string text = "fetched bytes";
  std::vector<std::byte> data(text.size());
  std::memcpy(data.data(), text.data(), text.size());
  auto b = store.store(blob_store::blob_id("E1", text.size()), std::move(data));
  REQUIRE(b.ok());
  std::string back(text.size(), '\0');
  auto n = (*b)->read(0, std::as_writable_bytes(std::span(back.data(), back.size())));
  REQUIRE(n.ok());
  CHECK(back == text);
  CHECK(store.stats().uncached == 1);
  CHECK(store.stats().blobs == 0);
}

TEST_CASE("with a cache folder, whole-object GETs in flight stay within the memory budget") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ossuring_fs4_blobs_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  test::mock_client mock;
  put_files(mock, 6, 1000);
  fs_options o = test::data_opts();
  o.fetch_buffer_limit = 2500;  // the folder itself may hold 1 MB: that is disk, not memory
  filesystem fs(mock, o, std::make_unique<directory_blob_store>(dir.string(), 1 << 20));
  REQUIRE(sync_wait(fs.build_index()).ok());
  mock.park_gets = true;
  std::vector<test::started<result<open_reply>>> opens;
  for (int i = 0; i < 6; ++i) {
    opens.push_back(start(fs.open(ino_of(fs, name_of(i)), O_RDONLY)));
  }
  CHECK(mock.parked() == 2);  // 2 x 1000 bytes fit in 2500; the others wait for room
  mock.park_gets = false;
  while (mock.parked() > 0) {
    mock.release_parked();
  }
  for (int i = 0; i < 6; ++i) {
    REQUIRE(opens[i].done());
    auto r = opens[i].get();
    REQUIRE(r.ok());
    fs.release(ino_of(fs, name_of(i)), r->fh);
  }
  CHECK(mock.calls.get == 6);
  sync_wait(fs.close());
  std::filesystem::remove_all(dir);
}

TEST_CASE("opening a file prefetches its next siblings; the waited-on GET goes first") {
  test::mock_client mock;
  put_files(mock, 20, 100);
  fs_options o = test::data_opts();
  o.prefetch = prefetch_policy::siblings;
  o.prefetch_concurrency = 2;
  o.prefetch_ahead = 4;
  filesystem fs(mock, o);
  REQUIRE(sync_wait(fs.build_index()).ok());
  mock.park_gets = true;
  auto first = start(fs.open(ino_of(fs, name_of(0)), O_RDONLY));
  CHECK(mock.calls.get == 3);  // the open's own GET and two prefetches (the concurrency)
  REQUIRE(mock.get_log.size() == 3);
  CHECK(mock.get_log[0].key == "ds/f00");
  CHECK(mock.get_log[1].key == "ds/f01");
  CHECK(mock.get_log[2].key == "ds/f02");
  // Opening a file whose prefetch is in flight joins that GET.
  auto second = start(fs.open(ino_of(fs, name_of(1)), O_RDONLY));
  CHECK(mock.calls.get == 3);
  mock.release_parked();
  REQUIRE(first.done());
  REQUIRE(second.done());
  auto r1 = first.get();
  auto r2 = second.get();
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  CHECK(fs.counters().prefetch_gets >= 2);
  // Reading the directory in order: every file is fetched exactly once.
  for (int i = 0; i < 20; ++i) {
    CHECK(cat(fs, name_of(i)) == std::string(100, static_cast<char>('a' + i % 26)));
  }
  CHECK(mock.calls.get == 20);
  sync_wait(fs.close());
}

TEST_CASE("one open in a fresh directory prefetches nothing, and direct mode never prefetches") {
  test::mock_client mock;
  put_files(mock, 5, 100);
  fs_options o = test::data_opts();
  filesystem plain(mock, o);
  REQUIRE(sync_wait(plain.build_index()).ok());
  cat(plain, name_of(0));
  CHECK(mock.calls.get == 1);
  o.prefetch = prefetch_policy::dir;
  o.direct = true;
  filesystem direct(mock, o);
  REQUIRE(sync_wait(direct.build_index()).ok());
  auto f = sync_wait(direct.open(ino_of(direct, name_of(1)), O_RDONLY));
  REQUIRE(f.ok());
  CHECK(mock.calls.get == 1);  // direct: nothing fetched at open, nothing prefetched
  sync_wait(plain.close());
  sync_wait(direct.close());
}

TEST_CASE("direct mode sends one ranged GET of exactly each read and keeps nothing") {
  test::mock_client mock;
  std::string data;
  for (int i = 0; i < 20000; ++i) {
    data += static_cast<char>('A' + i % 23);
  }
  mock.put("ds/big", data);
  mock.put("ds/small", "tiny");
  fs_options o = test::data_opts();
  o.direct = true;
  filesystem fs(mock, o);
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = ino_of(fs, "big");
  auto f = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(f.ok());
  CHECK(f->backing_fd < 0);
  CHECK_FALSE(f->keep_cache);
  CHECK(read_str(fs, ino, f->fh, 4096, 4096) == data.substr(4096, 4096));
  CHECK(read_str(fs, ino, f->fh, 4096, 4096) == data.substr(4096, 4096));
  CHECK(read_str(fs, ino, f->fh, 19000, 4096) == data.substr(19000));
  REQUIRE(mock.get_log.size() == 3);
  for (const auto& g : mock.get_log) {
    REQUIRE(g.length.has_value());
  }
  CHECK(mock.get_log[0].offset == 4096);
  CHECK(*mock.get_log[0].length == 4096);
  CHECK(mock.get_log[2].offset == 19000);
  CHECK(*mock.get_log[2].length == 1000);
  uint64_t s = ino_of(fs, "small");
  auto fs2 = sync_wait(fs.open(s, O_RDONLY));
  REQUIRE(fs2.ok());
  CHECK(read_str(fs, s, fs2->fh, 0, 4096) == "tiny");
  CHECK(mock.get_log.back().length.has_value());  // small files too: ranged, never whole
  CHECK(fs.cache_stats().blobs == 0);
}

TEST_CASE("read-ahead windows of all open files stay within the buffer limit") {
  // (plus, at most, the bytes of the read being served)
  test::mock_client mock;
  std::string data(50000, 'z');
  mock.put("ds/l1", data);
  mock.put("ds/l2", data);
  fs_options o = test::data_opts();
  o.buffer_limit = 3000;
  filesystem fs(mock, o);
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t a = ino_of(fs, "l1");
  uint64_t b = ino_of(fs, "l2");
  auto fa = sync_wait(fs.open(a, O_RDONLY));
  auto fb = sync_wait(fs.open(b, O_RDONLY));
  REQUIRE(fa.ok());
  REQUIRE(fb.ok());
  for (uint64_t off = 0; off < 50000; off += 500) {
    CHECK(read_str(fs, a, fa->fh, off, 500) == data.substr(off, 500));
    CHECK(read_str(fs, b, fb->fh, off, 500) == data.substr(off, 500));
    // At most one read's own bytes past the limit: a read always gets what it asked for.
    CHECK(fs.counters().buffer_bytes <= 3000 + 500);
  }
  fs.release(a, fa->fh);
  fs.release(b, fb->fh);
  CHECK(fs.counters().buffer_bytes == 0);
}

TEST_CASE("an interrupted open returns EINTR while the shared GET still fills the cache") {
  test::mock_client mock;
  mock.put("ds/slow", "slow bytes");
  filesystem fs(mock, test::data_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = ino_of(fs, "slow");
  mock.park_gets = true;
  abort_source interrupt;
  auto o = start(fs.open(ino, O_RDONLY, &interrupt));
  CHECK_FALSE(o.done());
  interrupt.request_abort();
  REQUIRE(o.done());
  auto r = o.get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == EINTR);
  CHECK(fs.counters().interrupted == 1);
  mock.release_parked();
  CHECK(cat(fs, "slow") == "slow bytes");
  CHECK(mock.calls.get == 1);
}

TEST_CASE("an interrupted ranged read returns EINTR at once and the file stays usable") {
  test::mock_client mock;
  std::string data(20000, 'q');
  mock.put("ds/large", data);
  filesystem fs(mock, test::data_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = ino_of(fs, "large");
  auto f = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(f.ok());
  mock.park_gets = true;
  abort_source interrupt;
  std::vector<std::byte> buf(100);
  auto r = start(fs.read(ino, f->fh, 0, buf, &interrupt));
  CHECK_FALSE(r.done());
  interrupt.request_abort();
  REQUIRE(r.done());
  auto res = r.get();
  REQUIRE_FALSE(res.ok());
  CHECK(res.err().code == EINTR);
  mock.park_gets = false;
  CHECK(read_str(fs, ino, f->fh, 100, 100) == data.substr(100, 100));
}

TEST_CASE("a seek by one reader never fails another reader's GET in flight on the same file") {
  test::mock_client mock;
  std::string data;
  for (int i = 0; i < 20000; ++i) {
    data += static_cast<char>('a' + i % 19);
  }
  mock.put("ds/shared", data);
  filesystem fs(mock, test::data_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = ino_of(fs, "shared");
  auto f = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(f.ok());
  mock.park_gets = true;
  std::vector<std::byte> a(300), b(300);
  auto ra = start(fs.read(ino, f->fh, 0, a));
  auto rb = start(fs.read(ino, f->fh, 15000, b));
  CHECK(mock.parked() >= 2);
  mock.release_parked();
  REQUIRE(ra.done());
  REQUIRE(rb.done());
  auto x = ra.get();
  auto y = rb.get();
  REQUIRE(x.ok());
  REQUIRE(y.ok());
  CHECK(std::memcmp(a.data(), data.data(), 300) == 0);
  CHECK(std::memcmp(b.data(), data.data() + 15000, 300) == 0);
}

TEST_CASE("the number of cached blobs is capped like their bytes") {
  test::mock_client mock;
  put_files(mock, 8, 10);
  auto store = std::make_unique<memory_blob_store>(0);
  store->set_max_blobs(3);
  // Prefetch off: its window (64 files ahead) is far wider than a 3-blob cap, so it would evict
  // what it fetched before the reads; a cap exists only for tests, so this checks the cap alone.
  fs_options o = test::data_opts();
  o.prefetch = prefetch_policy::off;
  filesystem fs(mock, o, std::move(store));
  REQUIRE(sync_wait(fs.build_index()).ok());
  for (int i = 0; i < 8; ++i) {
    CHECK(cat(fs, name_of(i)) == std::string(10, static_cast<char>('a' + i)));
  }
  CHECK(fs.cache_stats().blobs == 3);
  CHECK(fs.cache_stats().evictions == 5);
}
