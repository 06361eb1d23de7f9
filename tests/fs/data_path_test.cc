// The data path against the mock: memfd blobs, budgets and eviction, prefetch across files,
// direct mode, read-ahead within the buffer budget and interrupted reads.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "fs/filesystem.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::start;
using test::sync_wait;

namespace {

fs_options opts() {
  fs_options o;
  o.bucket = "b";
  o.prefix = "ds/";
  o.small_file_threshold = 4096;
  o.readahead_min = 256;
  o.readahead_max = 4096;
  return o;
}

// `n` files ds/f00.. of `size` bytes, each filled with its own letter.
void put_files(test::mock_client& mock, int n, size_t size) {
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "ds/f%02d", i);
    mock.put(name, std::string(size, static_cast<char>('a' + i % 26)));
  }
}

uint64_t ino_of(filesystem& fs, const std::string& name) {
  auto e = sync_wait(fs.lookup(fs::index::root_ino, name));
  REQUIRE(e.ok());
  return e->attr.ino;
}

std::string name_of(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "f%02d", i);
  return name;
}

std::string read_str(filesystem& fs, uint64_t ino, uint64_t fh, uint64_t off, size_t n) {
  std::vector<std::byte> buf(n);
  auto r = sync_wait(fs.read(ino, fh, off, buf));
  REQUIRE(r.ok());
  return std::string(reinterpret_cast<const char*>(buf.data()), *r);
}

// Opens, reads whole, releases; returns the bytes.
std::string cat(filesystem& fs, const std::string& name) {
  return test::cat_ino(fs, ino_of(fs, name));
}

}  // namespace

TEST_CASE("without a cache folder, small files get a sealed memfd for passthrough") {
  test::mock_client mock;
  mock.put("ds/p", "passthrough from memory");
  filesystem fs(mock, opts());
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
  filesystem fs(mock, opts(), std::make_unique<memory_blob_store>(3000));
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
  filesystem fs(mock, opts(), std::make_unique<memory_blob_store>(3000));
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
  filesystem fs(mock, opts(), std::make_unique<memory_blob_store>(2500));
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
  for (auto [ino, fh] : open) {
    fs.release(ino, fh);
  }
  CHECK(fs.cache_stats().bytes == 2000);  // the uncached ones went with their last holder
}

TEST_CASE("unpinned handles (noopen mode) leave blobs to the budget and refetch after eviction") {
  test::mock_client mock;
  put_files(mock, 12, 1000);
  filesystem fs(mock, opts(), std::make_unique<memory_blob_store>(3000));
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
    filesystem fs(mock, opts(), std::make_unique<directory_blob_store>(dir.string(), 2000));
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
    filesystem fs(mock, opts(), std::make_unique<directory_blob_store>(dir.string(), 2000));
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
  fs_options o = opts();
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
  fs_options o = opts();
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

TEST_CASE("prefetch is off by default and never runs in direct mode") {
  test::mock_client mock;
  put_files(mock, 5, 100);
  fs_options o = opts();
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
  fs_options o = opts();
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
  fs_options o = opts();
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
  filesystem fs(mock, opts());
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
  filesystem fs(mock, opts());
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
  filesystem fs(mock, opts());
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

TEST_CASE("the number of cached blobs (each an fd) is capped like their bytes") {
  test::mock_client mock;
  put_files(mock, 8, 10);
  auto store = std::make_unique<memory_blob_store>(0);
  store->set_max_blobs(3);
  filesystem fs(mock, opts(), std::move(store));
  REQUIRE(sync_wait(fs.build_index()).ok());
  for (int i = 0; i < 8; ++i) {
    CHECK(cat(fs, name_of(i)) == std::string(10, static_cast<char>('a' + i)));
  }
  CHECK(fs.cache_stats().blobs == 3);
  CHECK(fs.cache_stats().evictions == 5);
}

namespace {

// A server whose ranged GETs stall: each one blocks for `stall` (the client's timeouts and
// retries, compressed) and then fails as the client reports a timed-out request.
struct stalling_client : test::mock_client {
  std::chrono::milliseconds stall{0};
  task<result<oss::get_result>> get_object(const oss::get_request& req, std::span<std::byte> dest,
                                           abort_source* abort) override {
    if (!req.length) {
      co_return co_await mock_client::get_object(req, dest, abort);
    }
    ++calls.get;
    get_log.push_back(req);
    std::this_thread::sleep_for(stall);
    co_return make_error(ETIMEDOUT,
                         "GetObject oss://b/" + req.key + ": timed out after 3 attempts");
  }
};

// A server that shifts the bytes of one ranged answer by one (and still sends the object's
// CRC-64 and the right length), or, with `shift_at` unset, answers correctly.
struct shifting_client : test::mock_client {
  std::optional<uint64_t> shift_at;
  task<result<oss::get_result>> get_object(const oss::get_request& req, std::span<std::byte> dest,
                                           abort_source* abort) override {
    auto r = co_await mock_client::get_object(req, dest, abort);
    if (r && req.length && shift_at && req.offset <= *shift_at &&
        *shift_at < req.offset + r->bytes) {
      size_t at = static_cast<size_t>(*shift_at - req.offset);
      std::memmove(dest.data() + at + 1, dest.data() + at, r->bytes - at - 1);
    }
    co_return r;
  }
};

struct manual_clock {
  fs_clock::time_point t{std::chrono::hours(1)};
  clock_fn fn() {
    return [this] { return t; };
  }
};

}  // namespace

TEST_CASE("the kernel's re-issued READ after a timed-out GET fails at once, not a second cycle") {
  stalling_client mock;
  mock.put("ds/large", std::string(20000, 'q'));
  manual_clock clock;
  fs_options o = opts();
  filesystem fs(mock, o, nullptr, clock.fn());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = ino_of(fs, "large");
  auto f = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(f.ok());
  mock.stall = std::chrono::milliseconds(300);
  std::vector<std::byte> ahead(4096), page(1024);
  auto t0 = std::chrono::steady_clock::now();
  auto first = sync_wait(fs.read(ino, f->fh, 8192, ahead));  // the kernel's read-ahead
  auto t1 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(first.ok());
  CHECK(first.err().code == EIO);
  CHECK(t1 - t0 >= std::chrono::milliseconds(300));
  const unsigned gets = mock.calls.get;
  // The kernel reads the failed page again at once: same error, no GET, no wait.
  auto again = sync_wait(fs.read(ino, f->fh, 9216, page));
  auto t2 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(again.ok());
  CHECK(again.err().code == EIO);
  CHECK(again.err().message == first.err().message);
  CHECK(mock.calls.get == gets);
  CHECK(t2 - t1 < std::chrono::milliseconds(100));
  CHECK(fs.counters().reads_failed_again == 1);
  // Another range of the file is not held back by it.
  mock.stall = std::chrono::milliseconds(0);
  auto other = sync_wait(fs.read(ino, f->fh, 0, page));
  CHECK_FALSE(other.ok());
  CHECK(mock.calls.get == gets + 1);
  // Past failed_read_memory the same range is asked of OSS again.
  clock.t += o.failed_read_memory;
  auto later = sync_wait(fs.read(ino, f->fh, 9216, page));
  CHECK_FALSE(later.ok());
  CHECK(mock.calls.get == gets + 2);
  fs.release(ino, f->fh);
}

TEST_CASE("ranged reads through a whole object are checked against its CRC-64 at the end") {
  std::string data;
  for (int i = 0; i < 30000; ++i) {
    data += static_cast<char>('a' + (i * 7) % 23);
  }
  for (std::optional<uint64_t> shift :
       {std::optional<uint64_t>{}, std::optional<uint64_t>{12345}}) {
    CAPTURE(shift.has_value());
    shifting_client mock;
    mock.put("ds/large", data);
    mock.shift_at = shift;
    filesystem fs(mock, opts());
    REQUIRE(sync_wait(fs.build_index()).ok());
    uint64_t ino = ino_of(fs, "large");
    auto f = sync_wait(fs.open(ino, O_RDONLY));
    REQUIRE(f.ok());
    std::vector<std::byte> buf(1000);
    std::optional<error> failed;
    uint64_t off = 0;
    for (; off < data.size(); off += buf.size()) {
      auto r = sync_wait(fs.read(ino, f->fh, off, buf));
      if (!r) {
        failed = r.err();
        break;
      }
    }
    if (!shift) {
      CHECK_FALSE(failed);
      CHECK(fs.counters().crc64_mismatches == 0);
      CHECK(mock.calls.get > 3);  // read in several ranges
    } else {
      // Caught by the last read at the latest, with EIO; later reads of the handle fail too.
      REQUIRE(failed);
      CHECK(failed->code == EIO);
      CHECK(failed->message.find("CRC-64 mismatch") != std::string::npos);
      // Not before the shifted range, and by the read that first reaches the last range.
      CHECK(off > 12345);
      CHECK(off + opts().readahead_max >= data.size());
      CHECK(fs.counters().crc64_mismatches == 1);
      auto after = sync_wait(fs.read(ino, f->fh, 0, buf));
      REQUIRE_FALSE(after.ok());
      CHECK(after.err().code == EIO);
    }
    fs.release(ino, f->fh);
  }
}

TEST_CASE("a read that skips part of the object checks nothing and fails nothing") {
  shifting_client mock;
  std::string data(30000, 'z');
  data[20000] = 'y';
  mock.put("ds/large", data);
  mock.shift_at = 5000;  // in a range the reader skips
  filesystem fs(mock, opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = ino_of(fs, "large");
  auto f = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(f.ok());
  CHECK(read_str(fs, ino, f->fh, 0, 1000) == data.substr(0, 1000));
  for (uint64_t off = 10000; off < data.size(); off += 1000) {
    CHECK(read_str(fs, ino, f->fh, off, 1000) == data.substr(off, 1000));
  }
  CHECK(fs.counters().crc64_mismatches == 0);
  fs.release(ino, f->fh);
}
