// Helpers shared by the core tests: a reactor-free task driver, counted objects, io_uring probe.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <vector>

#include "core/task.hh"

namespace ossuring::test {

// Counts live instances, so a test can prove that every coroutine frame holding one was freed.
struct counted {
  static inline int live = 0;
  counted() { ++live; }
  counted(const counted&) { ++live; }
  counted(counted&&) noexcept { ++live; }
  counted& operator=(const counted&) = default;
  ~counted() { --live; }
};

// An eagerly started coroutine that owns nothing; used only to drive tasks in tests.
struct eager {
  struct promise_type {
    eager get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

template <typename T>
eager drive(task<T> t, std::optional<T>& out, std::exception_ptr& ex, bool& done) {
  try {
    out.emplace(co_await std::move(t));
  } catch (...) {
    ex = std::current_exception();
  }
  done = true;
}

// Runs a task that never waits for anything external to completion on this thread.
template <typename T>
T sync_await(task<T> t) {
  std::optional<T> out;
  std::exception_ptr ex;
  bool done = false;
  drive(std::move(t), out, ex, done);
  if (!done) {
    std::fprintf(stderr, "sync_await: task suspended on something external\n");
    std::abort();
  }
  if (ex) {
    std::rethrow_exception(ex);
  }
  return std::move(*out);
}

inline eager drive_void(task<void> t, std::exception_ptr& ex, bool& done) {
  try {
    co_await std::move(t);
  } catch (...) {
    ex = std::current_exception();
  }
  done = true;
}

inline void sync_await(task<void> t) {
  std::exception_ptr ex;
  bool done = false;
  drive_void(std::move(t), ex, done);
  if (!done) {
    std::fprintf(stderr, "sync_await: task suspended on something external\n");
    std::abort();
  }
  if (ex) {
    std::rethrow_exception(ex);
  }
}

// A manually fired event: awaiting coroutines are resumed inline by fire().
struct manual_event {
  std::vector<std::coroutine_handle<>> waiters;
  bool fired = false;
  auto operator co_await() noexcept {
    struct awaiter {
      manual_event& e;
      bool await_ready() const noexcept { return e.fired; }
      void await_suspend(std::coroutine_handle<> h) { e.waiters.push_back(h); }
      void await_resume() const noexcept {}
    };
    return awaiter{*this};
  }
  void fire() {
    fired = true;
    auto w = std::move(waiters);
    for (auto h : w) {
      h.resume();
    }
  }
};

// Exits with 77 (SKIP for meson) when this kernel or sandbox has no usable io_uring.
inline void require_io_uring() {
  static const int rc = [] {
    io_uring ring;
    int r = io_uring_queue_init(4, &ring, 0);
    if (r == 0) {
      io_uring_queue_exit(&ring);
    }
    return r;
  }();
  if (rc == -ENOSYS || rc == -EPERM || rc == -EACCES) {
    std::fprintf(stderr, "SKIP: io_uring unavailable (%d)\n", rc);
    std::exit(77);
  }
}

}  // namespace ossuring::test
