// sync: a task group and a one-shot event for single-threaded coroutines that need no reactor.
//
// Why not core/gate.hh and core/event.hh: a gate refuses spawns once it is closing, while a
// task_group may be awaited as its own tasks spawn more (the parallel listing splits itself while
// it is waited on, and file-system background work spawns follow-ups while the unmount drains
// it). core/event resumes waiters on a later turn of the thread's reactor and has no cancellable
// wait; a oneshot_event resumes them inside set() (every field a waiter reads must be final
// before it), needs no reactor (the file-system unit tests run without one), and a wait given an
// abort_source also ends when that source fires. Both assume one thread.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <utility>
#include <vector>

#include "core/abort.hh"
#include "core/task.hh"

namespace ossuring {

// Runs spawned tasks eagerly; `wait()` completes when every spawned task has finished (tasks may
// spawn more meanwhile). The group must outlive its tasks: always `co_await group.wait()` before
// it goes out of scope. An exception escaping a spawned task terminates the process.
class task_group {
 public:
  task_group() = default;
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  void spawn(task<void> t) {
    ++_pending;
    run(this, std::move(t));
  }
  size_t pending() const noexcept { return _pending; }

  auto wait() noexcept {
    struct awaiter {
      task_group* g;
      bool await_ready() const noexcept { return g->_pending == 0; }
      void await_suspend(std::coroutine_handle<> h) noexcept { g->_waiter = h; }
      void await_resume() const noexcept {}
    };
    return awaiter{this};
  }

 private:
  // An eager coroutine that destroys itself when done and wakes the waiter of the last one.
  struct runner {
    struct promise_type {
      task_group* group = nullptr;
      runner get_return_object() noexcept { return {}; }
      std::suspend_never initial_suspend() const noexcept { return {}; }
      auto final_suspend() const noexcept {
        struct fin {
          bool await_ready() const noexcept { return false; }
          std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
            task_group* g = h.promise().group;
            h.destroy();
            if (--g->_pending == 0 && g->_waiter) {
              return std::exchange(g->_waiter, {});
            }
            return std::noop_coroutine();
          }
          void await_resume() const noexcept {}
        };
        return fin{};
      }
      void return_void() const noexcept {}
      void unhandled_exception() const noexcept { std::terminate(); }
    };
  };
  static runner run(task_group* g, task<void> t) {
    co_await set_group{g};
    co_await std::move(t);
  }
  struct set_group {
    task_group* g;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<runner::promise_type> h) noexcept {
      h.promise().group = g;
      return false;  // continue at once
    }
    void await_resume() const noexcept {}
  };

  size_t _pending = 0;
  std::coroutine_handle<> _waiter;
};

// A one-shot event: waiters suspend until `set()`, later waiters pass straight through. A wait
// given an abort_source also ends when that source fires (the awaiter then yields false).
class oneshot_event {
 public:
  bool is_set() const noexcept { return _set; }
  void set() {
    _set = true;
    std::vector<node*> w = std::move(_waiters);
    _waiters.clear();
    for (node* n : w) {
      n->sub.unlink();
      n->h.resume();
    }
  }
  auto wait(abort_source* abort = nullptr) noexcept {
    struct awaiter {
      oneshot_event* e;
      abort_source* abort;
      node n;
      bool await_ready() const noexcept { return e->_set || (abort && abort->aborted()); }
      void await_suspend(std::coroutine_handle<> h) {
        n.h = h;
        e->_waiters.push_back(&n);
        if (abort) {
          n.sub.subscribe(abort, [this] {
            std::erase(e->_waiters, &n);
            n.h.resume();
          });
        }
      }
      bool await_resume() const noexcept { return e->_set; }
    };
    return awaiter{this, abort, {}};
  }

 private:
  struct node {
    std::coroutine_handle<> h;
    abort_subscription sub;
  };
  bool _set = false;
  std::vector<node*> _waiters;
};

}  // namespace ossuring
