// task<T>: a lazy, move-only coroutine that resumes its awaiter when it finishes.
//
// Modelled on cppcoro's task: the body does not start until the task is awaited. An exception
// escaping the body is stored and rethrown in the awaiter. Destroying a task that was never
// awaited destroys its frame (the body never ran, so nothing leaks).
//
// Stack depth: awaiting a task resumes its body inline; a body that finishes before suspending
// (the common case of a call that needs no I/O) is noticed by the final awaiter, and the awaiter
// then continues without resuming anyone, so a loop of a million such awaits keeps a flat stack.
// A body that finished later (after I/O) resumes its awaiter by symmetric transfer. Pure
// symmetric transfer is not enough on its own: GCC 12 turns the transfer into a tail call only
// with -foptimize-sibling-calls (on at -O2, off at -O0/-O1) and never under AddressSanitizer, and
// without the tail call every completed await leaves a native frame behind.
//
// Threading: a task's body is resumed on the thread that awaits it (the reactor model: work
// crosses threads only as messages), so the inline-completion flags need no atomics.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/detail/frame_pool.hh"

namespace ossuring {

template <typename T = void>
class task;

namespace detail {

struct task_final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
    auto& p = h.promise();
    if (p._resumed_inline) {
      // Still inside the awaiter's await_suspend: let it continue the caller by returning.
      p._finished_inline = true;
      return std::noop_coroutine();
    }
    std::coroutine_handle<> next = p._continuation;
    return next ? next : std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

struct task_promise_base {
  std::coroutine_handle<> _continuation;
  std::exception_ptr _exception;
  bool _resumed_inline = false;   // the awaiter's await_suspend is running the body
  bool _finished_inline = false;  // the body finished before that returned

  static void* operator new(size_t n) { return frame_pool::allocate(n); }
  static void operator delete(void* p, size_t n) noexcept { frame_pool::deallocate(p, n); }

  std::suspend_always initial_suspend() const noexcept { return {}; }
  task_final_awaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { _exception = std::current_exception(); }
  void rethrow_if_failed() const {
    if (_exception) {
      std::rethrow_exception(_exception);
    }
  }
};

template <typename T>
struct task_promise : task_promise_base {
  std::optional<T> _value;

  task<T> get_return_object() noexcept;
  template <typename U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    _value.emplace(std::forward<U>(v));
  }
  T take() {
    rethrow_if_failed();
    return std::move(*_value);
  }
};

template <>
struct task_promise<void> : task_promise_base {
  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const { rethrow_if_failed(); }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : _handle(h) {}
  task(task&& other) noexcept : _handle(std::exchange(other._handle, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      _handle = std::exchange(other._handle, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  bool valid() const noexcept { return static_cast<bool>(_handle); }
  bool done() const noexcept { return !_handle || _handle.done(); }

  auto operator co_await() && noexcept { return awaiter{_handle}; }
  auto operator co_await() & noexcept { return awaiter{_handle}; }

  // Gives up ownership of the frame; the caller must destroy it (used by gate and sync runners).
  handle_type release() noexcept { return std::exchange(_handle, {}); }

 private:
  struct awaiter {
    handle_type _h;
    bool await_ready() const noexcept { return !_h || _h.done(); }
    // Returns false (continue the caller now) when the body finished without suspending.
    bool await_suspend(std::coroutine_handle<> caller) noexcept {
      auto& p = _h.promise();
      p._continuation = caller;
      p._resumed_inline = true;
      _h.resume();
      // The frame is alive either way: a finished body waits at its final suspend point until
      // the task is destroyed.
      p._resumed_inline = false;
      return !p._finished_inline;
    }
    T await_resume() { return _h.promise().take(); }
  };

  void reset() noexcept {
    if (_handle) {
      _handle.destroy();
      _handle = {};
    }
  }

  handle_type _handle;
};

namespace detail {
template <typename T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace ossuring
