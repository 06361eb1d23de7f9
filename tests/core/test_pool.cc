// reactor_pool: messages between reactors, callers resumed on their own reactor, orderly stop.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "core/io.hh"
#include "core/metrics.hh"
#include "core/reactor_pool.hh"
#include "tests/core/support.hh"

using namespace ossuring;
using namespace std::chrono_literals;
using ossuring::test::require_io_uring;

namespace {

reactor_pool_config two_unpinned() {
  return reactor_pool_config{.cpus = {0, 1}, .pin = false, .entries = 256};
}

task<unsigned> local_id() {
  co_return reactor::local().id();
}

task<int> ping_pong(reactor_pool* pool, int rounds) {
  int sum = 0;
  for (int i = 0; i < rounds; ++i) {
    unsigned there = co_await pool->submit_to(1, [] { return local_id(); });
    if (there != 1 || reactor::local().id() != 0) {
      co_return -1;
    }
    sum += co_await pool->run_on(1, [i] { return reactor::local().id() == 1 ? i : -1000000; });
  }
  co_return sum;
}

task<void> throw_on_target() {
  co_await yield();
  throw std::runtime_error("remote failure");
}

task<int> sleep_until_stopped(abort_source* stopping) {
  co_return co_await sleep_for(1h, stopping);
}

// Counts the live copies of a capture, to see how often a factory is destroyed.
struct tracked {
  static inline std::atomic<int> live{0};
  tracked() { ++live; }
  tracked(const tracked&) { ++live; }
  tracked(tracked&&) noexcept { ++live; }
  ~tracked() { --live; }
};

// The pattern core/reactor_pool.hh prescribes: the awaiter built in its own statement.
task<int> count_live_captures(reactor_pool* pool) {
  tracked t;
  for (int i = 0; i < 10; ++i) {
    auto there = pool->submit_to(1, [t] { return local_id(); });
    co_await there;
    auto call = pool->run_on(1, [t] { return 1; });
    co_await call;
  }
  co_return tracked::live.load();
}

}  // namespace

TEST_SUITE("reactor pool") {
  TEST_CASE("a named awaiter destroys its factory's captures exactly once") {
    // With the lambda inside the co_await expression GCC 12 destroys a capture it never built
    // (core/reactor_pool.hh): this counts -1 per call there.
    require_io_uring();
    reactor_pool pool(two_unpinned());
    tracked::live = 0;
    CHECK(pool.run_sync(0, [&pool] { return count_live_captures(&pool); }) == 1);
  }

  TEST_CASE("run_sync runs a task on the chosen reactor's thread") {
    require_io_uring();
    reactor_pool pool(two_unpinned());
    CHECK(pool.size() == 2);
    CHECK(pool.run_sync(0, [] { return local_id(); }) == 0);
    CHECK(pool.run_sync(1, [] { return local_id(); }) == 1);
  }

  TEST_CASE("submit_to and run_on run on the target and resume on the caller's reactor") {
    require_io_uring();
    reactor_pool pool(two_unpinned());
    int rounds = 2000;
    int sum = pool.run_sync(0, [&pool, rounds] { return ping_pong(&pool, rounds); });
    CHECK(sum == rounds * (rounds - 1) / 2);
  }

  TEST_CASE("an exception on the target reactor is rethrown to the caller") {
    require_io_uring();
    reactor_pool pool(two_unpinned());
    std::string what = pool.run_sync(0, [&pool]() -> task<std::string> {
      try {
        co_await pool.submit_to(1, [] { return throw_on_target(); });
      } catch (const std::runtime_error& e) {
        co_return std::string(e.what());
      }
      co_return std::string("no exception");
    });
    CHECK(what == "remote failure");
  }

  TEST_CASE("posted functions run on the reactor's thread in order") {
    require_io_uring();
    reactor_pool pool(two_unpinned());
    std::vector<int> seen;  // touched only on reactor 1
    for (int i = 0; i < 100; ++i) {
      pool.at(1).post([&seen, i] { seen.push_back(i); });
    }
    size_t n = pool.run_sync(1, [&seen]() -> task<size_t> { co_return seen.size(); });
    CHECK(n == 100);
    CHECK(seen.front() == 0);
    CHECK(seen.back() == 99);
  }

  TEST_CASE("counters updated on two reactors are summed from a third thread") {
    require_io_uring();
    reactor_pool pool(two_unpinned());
    counter& c = metrics().get_counter("test_pool_ops_total");
    uint64_t before = c.value();
    for (unsigned i = 0; i < 2; ++i) {
      pool.run_sync(i, [&c]() -> task<int> {
        for (int k = 0; k < 1000; ++k) {
          c.add();
        }
        co_return 0;
      });
    }
    CHECK(c.value() - before == 2000);
  }

  TEST_CASE("stop cancels long-lived work through the stopping source and joins") {
    require_io_uring();
    std::atomic<int> result{1};
    std::atomic<int> cross_result{1};
    {
      reactor_pool pool(two_unpinned());
      pool.run_sync(1, [&pool, &result]() -> task<int> {
        reactor::local().spawn([](abort_source* s, std::atomic<int>* out) -> task<void> {
          out->store(co_await sleep_until_stopped(s));
        }(&pool.stopping(1), &result));
        co_return 0;
      });
      // Reactor 0 waits on work it handed to reactor 1 while the pool stops.
      pool.run_sync(0, [&pool, &cross_result]() -> task<int> {
        reactor::local().spawn([](reactor_pool* p, std::atomic<int>* out) -> task<void> {
          out->store(
              co_await p->submit_to(1, [p] { return sleep_until_stopped(&p->stopping(1)); }));
        }(&pool, &cross_result));
        co_return 0;
      });
      pool.stop();
    }
    CHECK(result.load() == -ECANCELED);
    CHECK(cross_result.load() == -ECANCELED);
  }

  TEST_CASE("a pool fails to start on a CPU that does not exist") {
    require_io_uring();
    CHECK_THROWS_AS(reactor_pool(reactor_pool_config{.cpus = {0, 1023}, .pin = true}),
                    std::runtime_error);
  }
}
