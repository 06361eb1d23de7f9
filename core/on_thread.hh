// on_thread: runs one blocking call (serializing and writing a large file) on a thread of its own
// while the reactor goes on serving; the awaiting coroutine resumes on its reactor.
#pragma once

#include <coroutine>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "core/reactor.hh"
#include "core/task.hh"

namespace ossuring {

namespace detail {

// Invariants: the thread only calls `_fn`, stores the result and posts the resume; it never
// touches the coroutine. The awaiter lives in the suspended coroutine's frame, so it outlives the
// thread's use of it, and await_resume joins the thread before the frame can go. `_fn` (and
// whatever it captured) is destroyed with the awaiter, on the reactor's thread.
template <class F>
class on_thread_awaiter {
 public:
  using value_type = std::invoke_result_t<F&>;

  explicit on_thread_awaiter(F fn) : _fn(std::move(fn)) {}
  on_thread_awaiter(const on_thread_awaiter&) = delete;
  on_thread_awaiter& operator=(const on_thread_awaiter&) = delete;

  // Without a reactor on this thread (tests that drive coroutines by hand) the call runs inline.
  bool await_ready() {
    if (reactor::current() != nullptr) {
      return false;
    }
    _out.emplace(_fn());
    return true;
  }
  void await_suspend(std::coroutine_handle<> h) {
    reactor* r = &reactor::local();
    _thread = std::thread([this, r, h] {
      _out.emplace(_fn());
      r->post([h] { h.resume(); });
    });
  }
  value_type await_resume() {
    if (_thread.joinable()) {
      _thread.join();
    }
    return std::move(*_out);
  }

 private:
  F _fn;
  std::optional<value_type> _out;
  std::thread _thread;
};

}  // namespace detail

// Calls `fn` on a new thread and completes with its result. For rare, long calls only (a thread
// per call); `fn` must not throw and must not touch reactor-owned state that the reactor may
// change meanwhile (give it copies, or shared_ptr to const data).
template <class F>
task<std::invoke_result_t<F&>> on_thread(F fn) {
  detail::on_thread_awaiter<F> w(std::move(fn));
  co_return co_await w;
}

}  // namespace ossuring
