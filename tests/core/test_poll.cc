// Poll mode (reactor_config::poll_us): events inside the spin window are handled without a
// sleep, the loop still sleeps once the window has passed, and posts (stop) end the spin at once.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/io.hh"
#include "core/reactor.hh"
#include "core/reactor_pool.hh"
#include "tests/core/support.hh"

using namespace ossuring;
using namespace std::chrono_literals;
using ossuring::test::require_io_uring;

namespace {

// Far longer than any test here runs: an event that the spin failed to notice would show as a
// test taking this long (and as a sleep in the counters).
constexpr unsigned long_window_us = 20'000'000;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

task<int> sleep_ms(std::chrono::milliseconds d) {
  co_return co_await sleep_for(d);
}

// Reads one byte from `fd`, which another thread writes to while the reactor spins: the read
// completes through a poll wake-up, as a /dev/fuse read does.
task<int> read_byte(int fd) {
  char c = 0;
  int rc = co_await ossuring::read(fd, &c, 1);
  co_return rc == 1 ? c : rc;
}

}  // namespace

TEST_SUITE("reactor poll mode") {
  TEST_CASE("a timer firing inside the spin window completes without a sleep") {
    require_io_uring();
    reactor r(reactor_config{.poll_us = long_window_us});
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(r.run(sleep_ms(5ms)) == 0);
    CHECK(since(t0) < 5.0);
    CHECK(r.wait_stats().sleeps == 0);
    CHECK(r.wait_stats().spin_hits >= 1);
    CHECK(r.wait_stats().spin_misses == 0);
    if (r.setup_flags() & IORING_SETUP_DEFER_TASKRUN) {
      // Deferred completions are seen through the kernel's TASKRUN flag, not a syscall per turn.
      CHECK((r.setup_flags() & IORING_SETUP_TASKRUN_FLAG) != 0);
    }
  }

  TEST_CASE("a pipe written by another thread during the spin is read without a sleep") {
    require_io_uring();
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    reactor r(reactor_config{.poll_us = long_window_us});
    std::thread writer([w = fds[1]] {
      std::this_thread::sleep_for(20ms);
      char c = 'x';
      REQUIRE(::write(w, &c, 1) == 1);
    });
    const auto t0 = std::chrono::steady_clock::now();
    int got = r.run(read_byte(fds[0]));
    writer.join();
    CHECK(got == 'x');
    CHECK(since(t0) < 5.0);
    CHECK(r.wait_stats().sleeps == 0);
    CHECK(r.wait_stats().spin_hits >= 1);
    ::close(fds[0]);
    ::close(fds[1]);
  }

  TEST_CASE("the reactor sleeps once the window has passed") {
    require_io_uring();
    reactor r(reactor_config{.poll_us = 200});
    const double cpu0 = thread_cpu_seconds();
    CHECK(r.run(sleep_ms(100ms)) == 0);
    const double cpu = thread_cpu_seconds() - cpu0;
    CHECK(r.wait_stats().spin_misses >= 1);
    CHECK(r.wait_stats().sleeps >= 1);
    // A spin through the whole 100 ms would cost about that much CPU; a 200 µs window and a
    // sleep cost a small fraction of it.
    CHECK(cpu < 0.05);
  }

  TEST_CASE("without poll mode the loop never spins") {
    require_io_uring();
    reactor r;
    CHECK(r.run(sleep_ms(5ms)) == 0);
    CHECK(r.wait_stats().spin_hits == 0);
    CHECK(r.wait_stats().spin_misses == 0);
    CHECK(r.wait_stats().sleeps >= 1);
    CHECK((r.setup_flags() & IORING_SETUP_TASKRUN_FLAG) == 0);
  }

  TEST_CASE("posted work and a pool's stop end the spin at once") {
    require_io_uring();
    const auto t0 = std::chrono::steady_clock::now();
    {
      reactor_pool pool(reactor_pool_config{.cpus = {0}, .pin = false, .poll_us = long_window_us});
      for (int i = 0; i < 50; ++i) {
        CHECK(pool.run_sync(0, [i]() -> task<int> { co_return i; }) == i);
      }
      CHECK(pool.run_sync(
                0, [&pool]() -> task<uint64_t> { co_return pool.at(0).wait_stats().sleeps; }) == 0);
      pool.stop();
    }
    // 51 posts and a stop, each noticed inside a 20 s window: anything missed would take 20 s.
    CHECK(since(t0) < 5.0);
  }
}
