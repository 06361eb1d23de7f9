// GCRA token bucket shared across reactors (see rate_limiter.hh).
#include "http/oss/rate_limiter.hh"

#include <algorithm>
#include <cmath>

namespace ossuring::oss {

rate_limiter::rate_limiter(double rate, double burst, clock_fn now) : _now(std::move(now)) {
  set_rate(rate, burst);
}

int64_t rate_limiter::now() const {
  if (_now) {
    return _now();
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void rate_limiter::set_rate(double rate, double burst) {
  if (!(rate > 0) || !std::isfinite(rate)) {
    _interval_ns.store(0, std::memory_order_relaxed);
    return;
  }
  if (!(burst >= 1)) {
    burst = std::max(1.0, std::floor(rate / 10));
  }
  const int64_t interval = std::max<int64_t>(1, std::llround(1e9 / rate));
  _tolerance_ns.store(static_cast<int64_t>((burst - 1) * static_cast<double>(interval)),
                      std::memory_order_relaxed);
  _interval_ns.store(interval, std::memory_order_relaxed);
}

double rate_limiter::rate() const {
  int64_t i = _interval_ns.load(std::memory_order_relaxed);
  return i == 0 ? 0 : 1e9 / static_cast<double>(i);
}

std::chrono::nanoseconds rate_limiter::reserve() {
  const int64_t interval = _interval_ns.load(std::memory_order_relaxed);
  if (interval == 0) {
    return std::chrono::nanoseconds(0);
  }
  const int64_t tolerance = _tolerance_ns.load(std::memory_order_relaxed);
  const int64_t t = now();
  int64_t tat = _tat.load(std::memory_order_relaxed);
  int64_t next;
  do {
    // An idle bucket refills: arrivals never start earlier than `t - tolerance`.
    int64_t start = std::max(tat, t - tolerance);
    next = start + interval;
  } while (!_tat.compare_exchange_weak(tat, next, std::memory_order_relaxed));
  // This request's slot is `next - interval`; it may go once that is within the tolerance.
  int64_t slot = next - interval;
  int64_t wait = slot - t;
  return std::chrono::nanoseconds(std::max<int64_t>(0, wait));
}

task<bool> rate_limiter::acquire(const sleep_fn& sleep, abort_source* abort) {
  std::chrono::nanoseconds wait = reserve();
  if (wait.count() == 0) {
    co_return !(abort && abort->aborted());
  }
  co_return co_await sleep(wait, abort);
}

}  // namespace ossuring::oss
