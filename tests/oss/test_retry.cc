// Retry policy pieces (classification, full-jitter backoff, qos delay, clock offset) and the
// shared rate limiter, with fake clocks.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "http/oss/rate_limiter.hh"
#include "http/oss/retry.hh"
#include "http/oss/time.hh"

using namespace ossuring;
using namespace ossuring::oss;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST_CASE("transport failures worth retrying are resets, EOF, timeouts and refusals") {
  for (int e : {ECONNRESET, EPIPE, EPROTO, ETIMEDOUT, ECONNREFUSED, ECONNABORTED}) {
    CHECK(is_retryable_errno(e));
  }
  for (int e : {ECANCELED, EIO, EINVAL, ENOENT, EACCES, ENOMEM}) {
    CHECK_FALSE(is_retryable_errno(e));
  }
}

TEST_CASE("5xx, 408, 429 and throttling codes are retried; client errors are not") {
  CHECK(is_retryable_status(500, "InternalError"));
  CHECK(is_retryable_status(503, "ServiceUnavailable"));
  CHECK(is_retryable_status(502, ""));
  CHECK(is_retryable_status(408, ""));
  CHECK(is_retryable_status(429, ""));
  CHECK(is_retryable_status(403, "TotalQpsLimitExceeded"));
  CHECK_FALSE(is_retryable_status(404, "NoSuchKey"));
  CHECK_FALSE(is_retryable_status(403, "SignatureDoesNotMatch"));
  CHECK_FALSE(is_retryable_status(412, "PreconditionFailed"));
  CHECK_FALSE(is_retryable_status(416, "InvalidRange"));
}

TEST_CASE("full-jitter backoff stays under base * 2^(retry-1), capped") {
  retry_policy p;  // 200 ms base, 20 s cap
  CHECK(backoff_delay(p, 1, 0) == nanoseconds(0));
  CHECK(backoff_delay(p, 1, ~0ull) <= milliseconds(200));
  CHECK(backoff_delay(p, 3, ~0ull) <= milliseconds(800));
  CHECK(backoff_delay(p, 30, ~0ull) <= milliseconds(20000));
  // The largest random value for the ceiling reaches it exactly.
  uint64_t ceiling3 = 800'000'000;
  CHECK(backoff_delay(p, 3, ceiling3) == milliseconds(800));
  CHECK(backoff_delay(p, 40, 20'000'000'000ull) == milliseconds(20000));
  retry_policy none{.max_attempts = 3, .base_delay = milliseconds(0)};
  CHECK(backoff_delay(none, 5, 12345) == nanoseconds(0));
}

TEST_CASE("x-oss-qos-delay-time is read in milliseconds; malformed values are ignored") {
  http::header_list h;
  CHECK_FALSE(qos_delay(h).has_value());
  h.set("x-oss-qos-delay-time", "250");
  CHECK(qos_delay(h) == milliseconds(250));
  h.set("x-oss-qos-delay-time", "25x");
  CHECK_FALSE(qos_delay(h).has_value());
}

TEST_CASE("the clock offset is the server's Date minus the local clock") {
  http::header_list h;
  CHECK_FALSE(clock_offset_from(h, 1000).has_value());
  h.set("Date", format_rfc1123(1'700'003'600));
  CHECK(clock_offset_from(h, 1'700'000'000) == 3600);
  CHECK(clock_offset_from(h, 1'700'007'200) == -3600);
}

TEST_CASE("the rate limiter lets a burst through, then one request per interval") {
  int64_t now = 5'000'000'000;
  rate_limiter l(100.0, 5.0, [&] { return now; });
  for (int i = 0; i < 5; ++i) {
    CHECK(l.reserve() == nanoseconds(0));
  }
  CHECK(l.reserve() == milliseconds(10));
  CHECK(l.reserve() == milliseconds(20));
  now += 1'000'000'000;  // a second idle refills the burst
  for (int i = 0; i < 5; ++i) {
    CHECK(l.reserve() == nanoseconds(0));
  }
  CHECK(l.reserve() == milliseconds(10));
}

TEST_CASE("an unlimited rate limiter never waits; the default burst is a tenth of the rate") {
  int64_t now = 0;
  rate_limiter off(0, 0, [&] { return now; });
  for (int i = 0; i < 100; ++i) {
    CHECK(off.reserve() == nanoseconds(0));
  }
  rate_limiter l(8000, 0, [&] { return now; });
  int passed = 0;
  while (l.reserve() == nanoseconds(0)) {
    ++passed;
  }
  CHECK(passed == 800);
}

TEST_CASE("threads sharing a limiter are given distinct slots") {
  int64_t fixed = 0;
  rate_limiter l(1000.0, 1.0, [&] { return fixed; });
  std::vector<std::vector<int64_t>> waits(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        waits[t].push_back(l.reserve().count());
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::vector<int64_t> all;
  for (auto& w : waits) {
    all.insert(all.end(), w.begin(), w.end());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i] == static_cast<int64_t>(i) * 1'000'000);
  }
}
