// Reactor and io_uring operations: timers, linked timeouts, cancellation, gates, shutdown.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/io.hh"
#include "core/log.hh"
#include "core/on_thread.hh"
#include "core/reactor.hh"
#include "core/sync.hh"
#include "tests/core/support.hh"

using namespace ossuring;
using namespace std::chrono_literals;
using ossuring::test::counted;
using ossuring::test::require_io_uring;

namespace {

struct pipe_pair {
  int r = -1;
  int w = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~pipe_pair() {
    ::close(r);
    ::close(w);
  }
};

task<void> sleep_and_record(std::chrono::milliseconds d, int id, std::vector<int>* order) {
  int rc = co_await sleep_for(d);
  REQUIRE(rc == 0);
  order->push_back(id);
}

task<void> sleeps_in_deadline_order(std::vector<int>* order) {
  gate g;
  g.spawn(sleep_and_record(40ms, 0, order));
  g.spawn(sleep_and_record(10ms, 1, order));
  g.spawn(sleep_and_record(30ms, 2, order));
  g.spawn(sleep_and_record(20ms, 3, order));
  g.spawn(sleep_and_record(0ms, 4, order));
  co_await g.close();
}

// Reads from `fd` in its own frame, which holds a counted object: the frame's death is visible.
task<int> read_in_child(int fd, char* buf, op_options o, counted c) {
  (void)c;
  co_return co_await read(fd, buf, 1, static_cast<uint64_t>(-1), o);
}

task<void> abort_after_yield(abort_source* src) {
  co_await yield();
  co_await yield();
  src->request_abort();
}

task<int> read_then_abort(int fd, char* buf) {
  abort_source src;
  gate g;
  g.spawn(abort_after_yield(&src));
  int rc = co_await read_in_child(fd, buf, {.abort = &src}, counted{});
  co_await g.close();
  co_return rc;
}

task<void> background_read(int fd, abort_source* src, std::vector<int>* results, counted c) {
  (void)c;
  char buf[16];
  int rc = co_await read(fd, buf, sizeof(buf), static_cast<uint64_t>(-1), {.abort = src});
  results->push_back(rc);
}

task<int> throws_from_main() {
  co_await yield();
  throw std::runtime_error("main failed");
}

task<void> sleep_then_throw() {
  co_await sleep_for(1ms);
  throw std::runtime_error("spawned failure");
}

struct stack_span {
  uintptr_t lowest = UINTPTR_MAX;
  uintptr_t highest = 0;
};

task<int> yield_once(stack_span* s) {
  co_await yield();
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  s->lowest = here < s->lowest ? here : s->lowest;
  s->highest = here > s->highest ? here : s->highest;
  co_return 1;
}

task<int> many_suspending_awaits(int n, stack_span* s) {
  int sum = 0;
  for (int i = 0; i < n; ++i) {
    sum += co_await yield_once(s);
  }
  co_return sum;
}

}  // namespace

TEST_SUITE("reactor") {
  TEST_CASE("sequential awaits of tasks that suspend keep the stack flat") {
    require_io_uring();
    reactor r;
    stack_span span;
    CHECK(r.run(many_suspending_awaits(200'000, &span)) == 200'000);
    CHECK(span.highest - span.lowest < 4096);
  }

  TEST_CASE("sleeps complete in deadline order") {
    require_io_uring();
    reactor r;
    std::vector<int> order;
    r.run(sleeps_in_deadline_order(&order));
    CHECK(order == std::vector<int>{4, 1, 3, 2, 0});
    CHECK(r.inflight() == 0);
  }

  TEST_CASE("run returns the task's value and rethrows its exception") {
    require_io_uring();
    reactor r;
    CHECK(r.run([]() -> task<int> { co_return 3; }()) == 3);
    CHECK_THROWS_WITH_AS(r.run(throws_from_main()), "main failed", std::runtime_error);
  }

  TEST_CASE("run waits for background tasks and counts their failures") {
    require_io_uring();
    set_log_level(log_level::off);
    reactor r;
    r.run([](reactor& re) -> task<void> {
      re.spawn(sleep_then_throw());
      re.spawn(sleep_then_throw());
      co_return;
    }(r));
    CHECK(r.background().count() == 0);
    CHECK(r.background().failures() == 2);
    set_log_level(log_level::info);
  }

  TEST_CASE("a linked timeout yields -ETIMEDOUT and both CQEs are consumed") {
    require_io_uring();
    reactor r;
    pipe_pair p;
    char c = 0;
    uint64_t before = r.completions();
    int rc = r.run([](int fd, char* buf) -> task<int> {
      co_return co_await read(fd, buf, 1, static_cast<uint64_t>(-1), {.timeout = 20ms});
    }(p.r, &c));
    CHECK(rc == -ETIMEDOUT);
    CHECK(r.completions() - before == 2);  // the read's CQE and the timer's
    CHECK(r.inflight() == 0);
    // Nothing arrives late: a later sleep is the only completion.
    before = r.completions();
    r.run([]() -> task<void> { co_await sleep_for(30ms); }());
    CHECK(r.completions() - before == 1);
  }

  TEST_CASE("an operation that beats its timeout keeps its result and consumes the timer CQE") {
    require_io_uring();
    reactor r;
    pipe_pair p;
    REQUIRE(::write(p.w, "x", 1) == 1);
    char c = 0;
    uint64_t before = r.completions();
    int rc = r.run([](int fd, char* buf) -> task<int> {
      co_return co_await read(fd, buf, 1, static_cast<uint64_t>(-1), {.timeout = 10s});
    }(p.r, &c));
    CHECK(rc == 1);
    CHECK(c == 'x');
    CHECK(r.completions() - before == 2);
    CHECK(r.inflight() == 0);
  }

  TEST_CASE("aborting a pending read returns -ECANCELED and nothing completes late") {
    require_io_uring();
    counted::live = 0;
    reactor r;
    pipe_pair p;
    char c = 0;
    CHECK(r.run(read_then_abort(p.r, &c)) == -ECANCELED);
    CHECK(counted::live == 0);  // the reading frame is gone
    CHECK(r.inflight() == 0);
    // Reuse the freed memory with a frame of the same shape doing a read that succeeds; a late
    // CQE for the cancelled read would land in it and show up as an extra completion.
    REQUIRE(::write(p.w, "y", 1) == 1);
    char d = 0;
    uint64_t before = r.completions();
    int rc = r.run(read_in_child(p.r, &d, {}, counted{}));
    CHECK(rc == 1);
    CHECK(d == 'y');
    r.run([]() -> task<void> { co_await sleep_for(20ms); }());
    CHECK(r.completions() - before == 2);  // the read and the sleep, nothing else
    CHECK(counted::live == 0);
  }

  TEST_CASE("an already aborted source fails the operation without submitting it") {
    require_io_uring();
    reactor r;
    pipe_pair p;
    abort_source src;
    src.request_abort();
    char c = 0;
    uint64_t before = r.completions();
    int rc = r.run(read_in_child(p.r, &c, {.abort = &src}, counted{}));
    CHECK(rc == -ECANCELED);
    CHECK(r.completions() == before);
  }

  TEST_CASE("an aborted sleep returns -ECANCELED") {
    require_io_uring();
    reactor r;
    int rc = r.run([]() -> task<int> {
      abort_source src;
      gate g;
      g.spawn(abort_after_yield(&src));
      int res = co_await sleep_for(1h, &src);
      co_await g.close();
      co_return res;
    }());
    CHECK(rc == -ECANCELED);
    CHECK(r.inflight() == 0);
  }

  TEST_CASE("shutdown with reads in flight: the abort source ends them and run returns") {
    require_io_uring();
    counted::live = 0;
    reactor r;
    pipe_pair p;
    abort_source stop;
    std::vector<int> results;
    r.run([](reactor& re, int fd, abort_source* src, std::vector<int>* out) -> task<void> {
      for (int i = 0; i < 50; ++i) {
        re.spawn(background_read(fd, src, out, counted{}));
      }
      co_await sleep_for(5ms);
      CHECK(re.inflight() == 50);
      src->request_abort();  // main returns; run() then waits for the 50 reads to settle
    }(r, p.r, &stop, &results));
    CHECK(results.size() == 50);
    for (int rc : results) {
      CHECK(rc == -ECANCELED);
    }
    CHECK(counted::live == 0);
    CHECK(r.inflight() == 0);
  }

  TEST_CASE("file operations go through the ring") {
    require_io_uring();
    reactor r;
    char path[] = "/tmp/ossuring_core_io_XXXXXX";
    int tmp = ::mkstemp(path);
    REQUIRE(tmp >= 0);
    ::close(tmp);
    std::string got = r.run([](const char* pth) -> task<std::string> {
      int fd = co_await ossuring::openat(AT_FDCWD, pth, O_RDWR | O_TRUNC | O_CLOEXEC);
      REQUIRE(fd >= 0);
      CHECK(co_await ossuring::pwrite(fd, "hello world", 11, 0) == 11);
      CHECK(co_await ossuring::fsync(fd) == 0);
      struct statx st {};
      CHECK(co_await ossuring::statx(AT_FDCWD, pth, 0, STATX_SIZE, &st) == 0);
      CHECK(st.stx_size == 11);
      char buf[16] = {};
      CHECK(co_await ossuring::pread(fd, buf, 5, 6) == 5);
      CHECK(co_await ossuring::close(fd) == 0);
      co_return std::string(buf);
    }(path));
    CHECK(got == "world");
    ::unlink(path);
  }

  TEST_CASE("on_thread runs a blocking call elsewhere while the reactor keeps serving") {
    require_io_uring();
    reactor r;
    // The call waits (at most 5 s) for the reactor, still running its timers, to release it:
    // run inline on the reactor's thread it would time out and return -1.
    std::atomic<bool> release{false};
    std::thread::id where;
    int called = 0;
    int served =
        r.run([](std::atomic<bool>& release, std::thread::id& where, int& called) -> task<int> {
          auto blocking = [&release, &where] {
            where = std::this_thread::get_id();
            for (int i = 0; i < 5000 && !release.load(); ++i) {
              std::this_thread::sleep_for(1ms);
            }
            return release.load() ? 42 : -1;
          };
          task_group g;
          g.spawn([](task<int> call, int& out) -> task<void> { out = co_await std::move(call); }(
                                                   on_thread(blocking), called));
          int timers = 0;
          for (; timers < 3; ++timers) {
            co_await sleep_for(5ms);
          }
          release = true;
          co_await g.wait();
          co_return timers;
        }(release, where, called));
    CHECK(served == 3);
    CHECK(called == 42);
    CHECK(where != std::thread::id());
    CHECK(where != std::this_thread::get_id());
    CHECK(r.inflight() == 0);
  }
}
