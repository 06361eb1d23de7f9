// A request-rate limiter shared by every reactor: one token bucket kept as a single atomic (the
// GCRA form of a token bucket: the "theoretical arrival time" of the next request), so taking a
// token is one compare-and-swap and no thread ever blocks another.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>

#include "core/abort.hh"
#include "core/task.hh"
#include "http/oss/retry.hh"

namespace ossuring::oss {

class rate_limiter {
 public:
  using clock_fn = std::function<int64_t()>;  // monotonic nanoseconds

  // `rate` requests per second (0 = unlimited); up to `burst` requests pass at once after an
  // idle period (0 = rate/10, at least 1). `now` defaults to steady_clock.
  explicit rate_limiter(double rate, double burst = 0, clock_fn now = nullptr);

  // Takes one token and returns how long the caller must wait before sending (0 = now). The
  // token is spent even if the caller then gives up: the long-run rate holds regardless.
  std::chrono::nanoseconds reserve();
  // reserve() then sleeps with `sleep`; false when `abort` fired during the wait.
  task<bool> acquire(const sleep_fn& sleep, abort_source* abort = nullptr);

  // Changes the rate; already reserved slots keep their times.
  void set_rate(double rate, double burst = 0);
  double rate() const;

 private:
  int64_t now() const;

  clock_fn _now;
  std::atomic<int64_t> _interval_ns{0};   // 0 = unlimited
  std::atomic<int64_t> _tolerance_ns{0};  // (burst - 1) * interval
  // Theoretical arrival time of the next request; starts long ago (a full bucket).
  std::atomic<int64_t> _tat{std::numeric_limits<int64_t>::min() / 4};
};

}  // namespace ossuring::oss
