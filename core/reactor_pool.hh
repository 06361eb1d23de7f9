// reactor_pool: N reactors on N threads (one per listed CPU), cross-reactor calls, orderly stop.
//
// Threading model: each reactor is created, run and destroyed on its own thread and owns its
// ring; no state is shared between reactors on the hot path. Work crosses reactors only as a
// message (`reactor::post`: a locked queue and an eventfd write), and a coroutine that hands work
// to another reactor (`run_on`, `submit_to`) is always resumed on its own reactor again.
//
// Shutdown is two-phase so that no message is ever posted to a destroyed reactor:
//  1. request_stop() fires every reactor's `stopping` abort source; each reactor's run() returns
//     once its background gate has drained. Reactors that have drained keep serving messages,
//     since a reactor still draining may need them.
//  2. When every reactor has drained, each leaves its loop; threads meet at a latch before any
//     reactor is destroyed.
// Long-lived background tasks must therefore subscribe to `stopping(i)` and finish.
//
// GCC 12 pitfall: in `co_await pool.submit_to(i, [x] {...})` (also run_on) GCC 12 copies a
// capture into one frame slot and moves the factory from another, then destroys both: a captured
// shared_ptr is released once too often. Build the awaiter in its own statement and await it by
// name (`auto op = pool.submit_to(...); co_await op;`), as tests/core/test_pool.cc checks; a
// named lambda passed by value is compiled correctly. tools/lint/coawait_check.py flags the
// inline form in CI (docs/contributing.md).
#pragma once

#include <atomic>
#include <exception>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/abort.hh"
#include "core/reactor.hh"
#include "core/result.hh"
#include "core/task.hh"

namespace ossuring {

// Parses a CPU list such as "0-3,6" into {0, 1, 2, 3, 6} (order kept, duplicates refused).
result<std::vector<int>> parse_cpu_list(std::string_view s);

struct reactor_pool_config {
  std::vector<int> cpus;  // one reactor per entry, reactor i on cpus[i]
  bool pin = true;        // pin reactor i's thread to cpus[i]
  unsigned entries = 1024;
  bool sqe128 = false;  // 128-byte SQEs on every reactor (FUSE over io_uring commands)
  // Poll mode on every reactor (reactor_config::poll_us): for CPUs dedicated to the pool.
  unsigned poll_us = 0;
};

namespace detail {

template <typename T>
using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// State shared by the cross-reactor awaitables: the caller's reactor and handle, and the
// outcome written on the target reactor before the reply message is posted (the post's lock
// orders the write before the caller's read).
template <typename T>
struct remote_state {
  reactor* target = nullptr;
  reactor* origin = nullptr;
  std::coroutine_handle<> caller;
  std::optional<stored_t<T>> value;
  std::exception_ptr error;

  // Last touch of this object on the target side: after the post the caller may resume and
  // destroy it.
  void reply() {
    std::coroutine_handle<> h = caller;
    origin->post([h] { h.resume(); });
  }
  T take() {
    if (error) {
      std::rethrow_exception(error);
    }
    if constexpr (!std::is_void_v<T>) {
      return std::move(*value);
    }
  }
};

template <typename F>
using task_value_t = typename std::invoke_result_t<F&>::value_type;

// Awaiting a task built by `factory` on another reactor's gate.
template <typename F>
class [[nodiscard]] submit_awaiter {
 public:
  using value_type = task_value_t<F>;
  submit_awaiter(reactor& target, F factory) : _factory(std::move(factory)) {
    _st.target = &target;
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    _st.origin = &reactor::local();
    _st.caller = h;
    _st.target->post([this] {
      try {
        _st.target->spawn(run());
      } catch (...) {  // the target's gate is closed: it is shutting down
        _st.error = std::current_exception();
        _st.reply();
      }
    });
  }
  value_type await_resume() { return _st.take(); }

 private:
  task<void> run() {
    try {
      if constexpr (std::is_void_v<value_type>) {
        co_await _factory();
      } else {
        _st.value.emplace(co_await _factory());
      }
    } catch (...) {
      _st.error = std::current_exception();
    }
    _st.reply();
  }

  F _factory;
  remote_state<value_type> _st;
};

// Calling a plain function on another reactor's thread.
template <typename F>
class [[nodiscard]] run_on_awaiter {
 public:
  using value_type = std::invoke_result_t<F&>;
  run_on_awaiter(reactor& target, F fn) : _fn(std::move(fn)) { _st.target = &target; }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    _st.origin = &reactor::local();
    _st.caller = h;
    _st.target->post([this] {
      try {
        if constexpr (std::is_void_v<value_type>) {
          _fn();
        } else {
          _st.value.emplace(_fn());
        }
      } catch (...) {
        _st.error = std::current_exception();
      }
      _st.reply();
    });
  }
  value_type await_resume() { return _st.take(); }

 private:
  F _fn;
  remote_state<value_type> _st;
};

}  // namespace detail

class reactor_pool {
 public:
  // Starts one thread per CPU and waits until every reactor is up. Throws std::runtime_error
  // when one cannot start (no io_uring, CPU not allowed); the others are stopped first.
  explicit reactor_pool(reactor_pool_config cfg);
  ~reactor_pool();
  reactor_pool(const reactor_pool&) = delete;
  reactor_pool& operator=(const reactor_pool&) = delete;

  unsigned size() const noexcept { return static_cast<unsigned>(_shards.size()); }
  reactor& at(unsigned i) { return *_shards.at(i)->r; }
  int cpu(unsigned i) const { return _shards.at(i)->cpu; }
  // Fired on reactor i when the pool starts stopping; use it only on reactor i.
  abort_source& stopping(unsigned i) { return _shards.at(i)->stop_src; }

  // From a coroutine on any reactor: runs `fn()` on reactor i, resumes on the caller's reactor
  // with its result (or its exception).
  template <typename F>
  auto run_on(unsigned i, F fn) {
    return detail::run_on_awaiter<F>(at(i), std::move(fn));
  }
  // From a coroutine on any reactor: awaits `factory()` (a task<T>) in reactor i's gate, resumes
  // on the caller's reactor with its result. The factory's captures must stay valid until then.
  template <typename F>
  auto submit_to(unsigned i, F factory) {
    return detail::submit_awaiter<F>(at(i), std::move(factory));
  }
  // From a thread that is not a reactor (main, tests): blocks until `factory()` completed on
  // reactor i and returns its result.
  template <typename F>
  detail::task_value_t<F> run_sync(unsigned i, F factory);

  // Non-blocking, callable from any thread; idempotent.
  void request_stop();
  // request_stop(), then joins every thread. Not from a pool thread.
  void stop();

 private:
  struct shard {
    unsigned index = 0;
    int cpu = -1;
    reactor* r = nullptr;
    std::thread thread;
    // Touched only on the shard's own reactor:
    abort_source stop_src;
    bool stop_requested = false;
    bool linger_over = false;
    std::coroutine_handle<> waiter;
  };
  void thread_main(shard& s, std::promise<void>& started);
  static task<void> wait_flag(shard& s, bool shard::*flag);
  void wake(shard& s, bool shard::*flag);

  reactor_pool_config _cfg;
  std::vector<std::unique_ptr<shard>> _shards;
  std::mutex _stop_mutex;  // held while request_stop() posts
  std::atomic<bool> _stop_requested{false};
  std::atomic<unsigned> _drained{0};
  std::unique_ptr<std::latch> _exit_latch;
};

template <typename F>
detail::task_value_t<F> reactor_pool::run_sync(unsigned i, F factory) {
  using T = detail::task_value_t<F>;
  if (reactor::current()) {
    throw std::logic_error("reactor_pool::run_sync called on a reactor thread");
  }
  // The promise and the factory live in the spawned frame: this thread may return (and unwind
  // its stack) the moment the value is set.
  auto done = std::make_shared<std::promise<T>>();
  std::future<T> fut = done->get_future();
  reactor& target = at(i);
  target.post([&target, factory = std::move(factory), done]() mutable {
    auto body = [](F f, std::shared_ptr<std::promise<T>> p) -> task<void> {
      try {
        if constexpr (std::is_void_v<T>) {
          co_await f();
          p->set_value();
        } else {
          p->set_value(co_await f());
        }
      } catch (...) {
        p->set_exception(std::current_exception());
      }
    };
    try {
      target.spawn(body(std::move(factory), done));
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  return fut.get();
}

}  // namespace ossuring
