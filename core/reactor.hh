// reactor: one io_uring event loop per thread; every in-flight kernel operation is a completion.
//
// Model: seastar's reactor backend. The CQE's user_data is the address of a `completion`; the loop
// copies a batch of CQEs out of the ring, advances it, and calls `complete(res, flags)` on each, so
// a completion may resume coroutines that submit more work without touching the CQ under
// iteration. A null user_data marks a CQE nobody waits for (ASYNC_CANCEL requests, MSG_RING
// acknowledgements) and is dropped.
//
// Threading: a reactor is created, used and destroyed on one thread (rings are set up with
// SINGLE_ISSUER and DEFER_TASKRUN where the kernel has them). The only thread-safe entry point is
// `post()`, which hands a function to the reactor's thread through a locked queue and an eventfd.
//
// Poll mode (`reactor_config::poll_us` > 0, for a CPU dedicated to this reactor): when the loop
// runs out of work it first submits what is queued, then spins for up to poll_us on the rings'
// shared memory (CQEs ready, the kernel's IORING_SQ_TASKRUN / IORING_SQ_CQ_OVERFLOW flags, SQEs
// queued, a post pending) before it sleeps in io_uring_enter. The spin makes no system call, so
// an event arriving inside the window costs no wake-up. Invariants: the spin never runs while a
// coroutine is ready or a post is pending, it ends at the first sign of an event (a stop
// request is a post, so shutdown is never delayed by it), and it is bounded: after poll_us
// without an event the loop sleeps exactly as without poll mode. With DEFER_TASKRUN the kernel
// queues most completions as task work that only our io_uring_enter runs, so the ring is set up
// with IORING_SETUP_TASKRUN_FLAG, which makes the kernel raise IORING_SQ_TASKRUN when it queues
// some; without that flag the spin enters the kernel to look (still without sleeping).
#pragma once

#include <liburing.h>

#include <atomic>
#include <bitset>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/gate.hh"
#include "core/task.hh"

namespace ossuring {

// An in-flight kernel operation. Invariant: the object outlives every CQE that names it.
class completion {
 public:
  virtual void complete(int res, uint32_t cqe_flags) noexcept = 0;

 protected:
  ~completion() = default;
};

struct reactor_config {
  unsigned entries = 1024;
  int cpu = -1;         // pin the thread to this CPU when >= 0
  unsigned id = 0;      // index among the process's reactors
  bool sqe128 = false;  // 128-byte SQEs (needed by FUSE over io_uring commands)
  // Poll mode: spin this many microseconds for an event before sleeping; 0 = sleep at once.
  unsigned poll_us = 0;
};

// What the loop did when it ran out of work (for tests and stats).
struct reactor_wait_stats {
  uint64_t sleeps = 0;       // blocking io_uring_enter calls
  uint64_t spin_hits = 0;    // spins that found an event inside the window
  uint64_t spin_misses = 0;  // spins whose window ended without one (a sleep followed)
};

class reactor {
 public:
  explicit reactor(reactor_config cfg = {});
  ~reactor();
  reactor(const reactor&) = delete;
  reactor& operator=(const reactor&) = delete;

  // The reactor owned by the calling thread, or nullptr.
  static reactor* current() noexcept;
  // The calling thread's reactor; aborts when there is none (a programming error).
  static reactor& local() noexcept;

  unsigned id() const noexcept { return _cfg.id; }
  int cpu() const noexcept { return _cfg.cpu; }
  io_uring* ring() noexcept { return &_ring; }
  unsigned setup_flags() const noexcept { return _setup_flags; }
  bool supports(int opcode) const noexcept {
    return opcode >= 0 && opcode < 256 && _supported_ops.test(static_cast<size_t>(opcode));
  }

  // Never fails: when the submission queue is full it submits what is queued and retries.
  // `count` > 1 reserves consecutive SQEs (a linked pair must not be split by a submit).
  io_uring_sqe* get_sqe();
  void reserve_sqes(unsigned count);

  // Resumes `h` on a later turn of the loop (never inline).
  void schedule(std::coroutine_handle<> h);

  // Thread-safe: runs `fn` on this reactor's thread on a later turn of its loop.
  void post(std::function<void()> fn);

  // Background tasks of this reactor; `run()` waits for them before returning.
  gate& background() noexcept { return _background; }
  void spawn(task<void> t) { _background.spawn(std::move(t)); }

  // Runs the loop until `main` has completed and every background task has finished. Rethrows an
  // exception escaping `main`.
  template <typename T>
  T run(task<T> main);

  // Operations completed and coroutines resumed so far (for tests and stats).
  uint64_t completions() const noexcept { return _completions; }
  const reactor_wait_stats& wait_stats() const noexcept { return _wait_stats; }

  // Awaiters that have submitted work and still wait for their last CQE. Kept by the awaiters in
  // core/io.hh and core/net.hh (not the reactor's own eventfd read); zero after a clean shutdown.
  uint64_t inflight() const noexcept { return _inflight; }
  void note_submitted() noexcept { ++_inflight; }
  void note_settled() noexcept { --_inflight; }

 private:
  void run_until(const bool& done);
  void poll_once(bool block);
  bool spin_for_event();
  bool kernel_has_events() const noexcept;
  void arm_eventfd();
  void drain_posted();

  class eventfd_completion final : public completion {
   public:
    explicit eventfd_completion(reactor& r) : _r(r) {}
    void complete(int res, uint32_t flags) noexcept override;
    uint64_t value = 0;

   private:
    reactor& _r;
  };

  reactor_config _cfg;
  io_uring _ring{};
  unsigned _setup_flags = 0;
  std::bitset<256> _supported_ops;
  std::deque<std::coroutine_handle<>> _ready;
  gate _background;
  uint64_t _completions = 0;
  uint64_t _inflight = 0;
  reactor_wait_stats _wait_stats;

  int _eventfd = -1;
  eventfd_completion _eventfd_completion{*this};
  bool _eventfd_armed = false;
  std::mutex _posted_mutex;
  std::vector<std::function<void()>> _posted;
  // Set after a post, cleared before a drain: lets the loop skip the lock when nothing was posted.
  std::atomic<bool> _posted_pending{false};
};

namespace detail {

// Called when an object that a pending CQE names is destroyed: the kernel would later write into
// freed memory, so stop at once with a message naming the object.
[[noreturn]] void die_with_pending_completion(const char* what) noexcept;

// The coroutine `reactor::run` drives: it awaits the user's task and records completion.
struct root_task {
  struct promise_type {
    bool* done = nullptr;
    root_task get_return_object() noexcept {
      return root_task{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct mark_done {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
          *h.promise().done = true;
        }
        void await_resume() const noexcept {}
      };
      return mark_done{};
    }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

template <typename T>
root_task run_root(task<T>& t, std::optional<T>& out, std::exception_ptr& ex) {
  try {
    out.emplace(co_await std::move(t));
  } catch (...) {
    ex = std::current_exception();
  }
}

inline root_task run_root(task<void>& t, std::optional<bool>& out, std::exception_ptr& ex) {
  try {
    co_await std::move(t);
    out.emplace(true);
  } catch (...) {
    ex = std::current_exception();
  }
}

}  // namespace detail

template <typename T>
T reactor::run(task<T> main) {
  using stored = std::conditional_t<std::is_void_v<T>, bool, T>;
  std::optional<stored> out;
  std::exception_ptr ex;
  bool done = false;
  detail::root_task root = detail::run_root(main, out, ex);
  root.handle.promise().done = &done;
  schedule(root.handle);
  run_until(done);
  root.handle.destroy();
  // Background work outlives main only until it finishes; close the gate and wait for it.
  bool drained = false;
  detail::root_task closer = [](gate& g) -> detail::root_task { co_await g.close(); }(_background);
  closer.handle.promise().done = &drained;
  schedule(closer.handle);
  run_until(drained);
  closer.handle.destroy();
  _background.reopen();
  if (ex) {
    std::rethrow_exception(ex);
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(*out);
  }
}

}  // namespace ossuring
