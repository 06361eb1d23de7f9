// Retry classification, backoff and clock-offset helpers for the OSS client.
#include "http/oss/retry.hh"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <random>

#include "core/io.hh"
#include "http/oss/time.hh"

namespace ossuring::oss {

bool is_retryable_errno(int code) {
  switch (code) {
    case ECONNRESET:
    case ECONNABORTED:
    case ECONNREFUSED:
    case EPIPE:
    case EPROTO:
    case ETIMEDOUT:
    case ENOTCONN:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETRESET:
      return true;
    default:
      return false;
  }
}

bool is_retryable_status(int http_status, std::string_view oss_code) {
  if (http_status >= 500 || http_status == 408 || http_status == 429) {
    return true;
  }
  return is_throttling(http_status, oss_code) || oss_code == "ServiceUnavailable" ||
         oss_code == "RequestTimeout";
}

retry_policy startup_retry(retry_policy run) {
  run.throttled_attempts = std::max(run.throttled_attempts, 1000u);
  run.max_delay = std::min<std::chrono::milliseconds>(run.max_delay, std::chrono::seconds(5));
  run.budget = std::chrono::seconds(60);
  return run;
}

bool is_throttling(int http_status, std::string_view oss_code) {
  return http_status == 429 || oss_code == "SlowDown" || oss_code == "Throttling" ||
         oss_code.find("LimitExceeded") != std::string_view::npos;
}

std::chrono::nanoseconds backoff_delay(const retry_policy& p, unsigned retry, uint64_t random) {
  using std::chrono::nanoseconds;
  const int64_t base = std::chrono::duration_cast<nanoseconds>(p.base_delay).count();
  const int64_t cap = std::chrono::duration_cast<nanoseconds>(p.max_delay).count();
  if (base <= 0 || cap <= 0) {
    return nanoseconds(0);
  }
  int64_t ceiling = base;
  for (unsigned i = 1; i < retry && ceiling < cap; ++i) {
    ceiling *= 2;
  }
  ceiling = std::min(ceiling, cap);
  return nanoseconds(static_cast<int64_t>(random % static_cast<uint64_t>(ceiling + 1)));
}

std::optional<std::chrono::milliseconds> qos_delay(const http::header_list& headers) {
  std::string_view v = headers.get("x-oss-qos-delay-time");
  if (v.empty()) {
    return std::nullopt;
  }
  uint64_t ms = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (ec != std::errc() || end != v.data() + v.size() || ms > 3'600'000) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(ms);
}

std::optional<int64_t> clock_offset_from(const http::header_list& headers, int64_t local_now) {
  auto server = parse_rfc1123(headers.get("date"));
  if (!server) {
    return std::nullopt;
  }
  return *server - local_now;
}

sleep_fn reactor_sleep() {
  return [](std::chrono::nanoseconds d, abort_source* abort) -> task<bool> {
    if (d.count() <= 0) {
      co_return !(abort && abort->aborted());
    }
    int r = co_await sleep_for(d, abort);
    co_return r == 0;
  };
}

uint64_t jitter_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

}  // namespace ossuring::oss
