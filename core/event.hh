// event: a single-reactor wake-up flag that coroutines can wait on (no locks, one thread).
//
// `set()` wakes every waiter (resumed on a later loop turn, never inline) and leaves the event
// set until `reset()`; `wait()` completes at once when the event is already set.
#pragma once

#include <coroutine>
#include <vector>

#include "core/reactor.hh"

namespace ossuring {

class event {
 public:
  void set() {
    _set = true;
    if (_waiters.empty()) {
      return;
    }
    std::vector<std::coroutine_handle<>> w;
    w.swap(_waiters);
    for (std::coroutine_handle<> h : w) {
      reactor::local().schedule(h);
    }
  }
  void reset() noexcept { _set = false; }
  bool is_set() const noexcept { return _set; }

  auto wait() {
    struct awaiter {
      event& e;
      bool await_ready() const noexcept { return e._set; }
      void await_suspend(std::coroutine_handle<> h) { e._waiters.push_back(h); }
      void await_resume() const noexcept {}
    };
    return awaiter{*this};
  }

 private:
  bool _set = false;
  std::vector<std::coroutine_handle<>> _waiters;
};

}  // namespace ossuring
