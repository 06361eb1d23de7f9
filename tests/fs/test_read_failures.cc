// Failed reads against faulty servers: the kernel's re-issued READ after a timed-out GET fails at
// once (failed_read_memory), and ranged reads through a whole object are checked against its
// CRC-64.
#include <doctest/doctest.h>

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "fs/filesystem.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::ino_of;
using test::read_str;
using test::sync_wait;

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
  fs_options o = test::data_opts();
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
    filesystem fs(mock, test::data_opts());
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
      CHECK(off + test::data_opts().readahead_max >= data.size());
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
  filesystem fs(mock, test::data_opts());
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
