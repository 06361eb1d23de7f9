// gate: the scope background tasks are spawned into; closing it waits for all of them.
//
// After seastar's gate: no detached work. `spawn` starts the task at once and counts it; `close`
// refuses new tasks and completes when the count reaches zero. An exception escaping a spawned
// task is logged and counted (a background task has no awaiter to rethrow into).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "core/task.hh"

namespace ossuring {

class gate;

namespace detail {
// Eagerly started, self-destroying frame that owns one spawned task for the gate.
struct gate_runner {
  struct promise_type {
    gate_runner get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};
}  // namespace detail

class gate {
 public:
  gate() = default;
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  ~gate();

  // Starts `t` now; it runs until its first suspension before spawn returns.
  void spawn(task<void> t);

  // Refuses new tasks, then completes once every spawned task has finished.
  task<void> close();
  // Allows spawning again after a completed close (used when a reactor is reused).
  void reopen() noexcept { _closed = false; }

  size_t count() const noexcept { return _count; }
  bool closed() const noexcept { return _closed; }
  uint64_t failures() const noexcept { return _failures; }

 private:
  static detail::gate_runner run(gate& g, task<void> t);
  void leave() noexcept;

  size_t _count = 0;
  bool _closed = false;
  uint64_t _failures = 0;
  std::coroutine_handle<> _waiter;
};

}  // namespace ossuring
