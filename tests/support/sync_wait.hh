// Test-only coroutine drivers: run a task to completion on the calling thread (the mock client
// completes at once), or start it and check on it later (for tests that park requests).
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "core/task.hh"

namespace ossuring::test {

namespace detail {

template <typename T>
struct started_state {
  std::optional<T> value;
  std::exception_ptr ex;
  bool done = false;
};
template <>
struct started_state<void> {
  std::exception_ptr ex;
  bool done = false;
};

// Eager coroutine whose frame the `started` handle owns.
struct eager {
  struct promise_type {
    eager get_return_object() noexcept {
      return eager{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> h;
};

template <typename T>
eager drive(task<T> t, started_state<T>* st) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
    } else {
      st->value.emplace(co_await std::move(t));
    }
  } catch (...) {
    st->ex = std::current_exception();
  }
  st->done = true;
}

}  // namespace detail

// A task started eagerly; `done()` tells whether it finished, `get()` takes its value.
template <typename T>
class started {
 public:
  explicit started(task<T> t) : _st(std::make_unique<detail::started_state<T>>()) {
    _frame = detail::drive(std::move(t), _st.get()).h;
  }
  started(started&& o) noexcept : _st(std::move(o._st)), _frame(std::exchange(o._frame, {})) {}
  started& operator=(started&&) = delete;
  ~started() {
    if (_frame) {
      _frame.destroy();
    }
  }
  bool done() const { return _st->done; }
  T get() {
    if (!_st->done) {
      throw std::logic_error("task has not finished (a request is still parked?)");
    }
    if (_st->ex) {
      std::rethrow_exception(_st->ex);
    }
    if constexpr (!std::is_void_v<T>) {
      return std::move(*_st->value);
    }
  }

 private:
  std::unique_ptr<detail::started_state<T>> _st;
  std::coroutine_handle<detail::eager::promise_type> _frame;
};

template <typename T>
started<T> start(task<T> t) {
  return started<T>(std::move(t));
}

// Runs `t` to completion; throws if it suspended on something nobody will resume.
template <typename T>
T sync_wait(task<T> t) {
  started<T> s(std::move(t));
  return s.get();
}

}  // namespace ossuring::test
