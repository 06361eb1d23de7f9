// reactor: ring set-up with feature probing, the completion loop, and cross-thread posting.
#include "core/reactor.hh"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ossuring {

namespace {
thread_local reactor* t_current = nullptr;

constexpr unsigned cqe_batch = 256;

// Tells the CPU we are spinning (lets a sibling hyperthread run, saves power).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

int setup_ring(io_uring* ring, unsigned entries, unsigned extra, bool poll, unsigned* flags_out) {
  // Best first: one issuer with task work deferred to our own io_uring_enter calls (no IPIs, no
  // surprise completions), then cooperative task running, then nothing special. Poll mode asks
  // for the TASKRUN flag with each of the first three (the spin sees queued task work in shared
  // memory), and falls back to them without it on kernels that lack it.
  constexpr unsigned taskrun = IORING_SETUP_TASKRUN_FLAG;
  const unsigned candidates[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | taskrun,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | taskrun,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | taskrun,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int rc = -EINVAL;
  for (unsigned flags : candidates) {
    if ((flags & taskrun) && !poll) {
      continue;
    }
    io_uring_params p{};
    p.flags = flags | extra;
    p.cq_entries = entries * 4;
    p.flags |= IORING_SETUP_CQSIZE;
    rc = io_uring_queue_init_params(entries, ring, &p);
    if (rc == 0) {
      *flags_out = p.flags;
      return 0;
    }
    if (rc != -EINVAL) {
      return rc;
    }
  }
  return rc;
}
}  // namespace

void detail::die_with_pending_completion(const char* what) noexcept {
  std::fprintf(stderr, "ossuring: %s destroyed while work it owns is still pending\n", what);
  std::abort();
}

reactor* reactor::current() noexcept {
  return t_current;
}

reactor& reactor::local() noexcept {
  if (!t_current) {
    std::fprintf(stderr, "ossuring: no reactor on this thread\n");
    std::abort();
  }
  return *t_current;
}

reactor::reactor(reactor_config cfg) : _cfg(cfg) {
  if (t_current) {
    throw std::logic_error("reactor: this thread already has one");
  }
  if (_cfg.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(_cfg.cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) {
      throw std::runtime_error("reactor: cannot pin to cpu " + std::to_string(_cfg.cpu) + ": " +
                               std::strerror(rc));
    }
  }
  int rc = setup_ring(&_ring, _cfg.entries, _cfg.sqe128 ? IORING_SETUP_SQE128 : 0, _cfg.poll_us > 0,
                      &_setup_flags);
  if (rc < 0) {
    throw std::runtime_error(std::string("reactor: io_uring_queue_init: ") + std::strerror(-rc));
  }
  if (io_uring_probe* probe = io_uring_get_probe_ring(&_ring)) {
    for (int op = 0; op <= probe->last_op && op < 256; ++op) {
      if (io_uring_opcode_supported(probe, op)) {
        _supported_ops.set(static_cast<size_t>(op));
      }
    }
    io_uring_free_probe(probe);
  }
  // Blocking on purpose: kernels before 6.x complete an io_uring read of an O_NONBLOCK eventfd
  // with -EAGAIN at once instead of polling it, which would turn the loop into a busy spin. The
  // write side cannot block (the counter would have to reach 2^64-2).
  _eventfd = eventfd(0, EFD_CLOEXEC);
  if (_eventfd < 0) {
    io_uring_queue_exit(&_ring);
    throw std::runtime_error(std::string("reactor: eventfd: ") + std::strerror(errno));
  }
  t_current = this;
}

reactor::~reactor() {
  if (_eventfd_armed) {
    // The pending eventfd read names _eventfd_completion: cancel it and wait for its CQE so the
    // kernel never completes into a destroyed object.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(
        sqe, reinterpret_cast<uint64_t>(static_cast<completion*>(&_eventfd_completion)), 0);
    io_uring_sqe_set_data(sqe, nullptr);
    while (_eventfd_armed) {
      poll_once(true);
    }
  }
  io_uring_queue_exit(&_ring);
  ::close(_eventfd);
  t_current = nullptr;
}

io_uring_sqe* reactor::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&_ring);
  while (!sqe) {
    io_uring_submit(&_ring);
    sqe = io_uring_get_sqe(&_ring);
  }
  return sqe;
}

void reactor::reserve_sqes(unsigned count) {
  if (io_uring_sq_space_left(&_ring) < count) {
    io_uring_submit(&_ring);
  }
}

void reactor::schedule(std::coroutine_handle<> h) {
  _ready.push_back(h);
}

void reactor::post(std::function<void()> fn) {
  {
    std::lock_guard lock(_posted_mutex);
    _posted.push_back(std::move(fn));
    _posted_pending.store(true, std::memory_order_release);
  }
  if (t_current == this) {
    return;  // the loop drains the queue on its next turn
  }
  uint64_t one = 1;
  ssize_t n = ::write(_eventfd, &one, sizeof(one));
  (void)n;  // cannot fail for a valid eventfd short of counter overflow
}

void reactor::eventfd_completion::complete(int res, uint32_t) noexcept {
  _r._eventfd_armed = false;
  (void)res;
  _r.drain_posted();
}

void reactor::arm_eventfd() {
  if (_eventfd_armed) {
    return;
  }
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, _eventfd, &_eventfd_completion.value, sizeof(uint64_t), 0);
  io_uring_sqe_set_data(sqe, static_cast<completion*>(&_eventfd_completion));
  _eventfd_armed = true;
}

void reactor::drain_posted() {
  // A plain load on the hot path; the lock is taken only when something was posted.
  if (!_posted_pending.load(std::memory_order_acquire)) {
    return;
  }
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(_posted_mutex);
    _posted_pending.store(false, std::memory_order_relaxed);
    batch.swap(_posted);
  }
  for (auto& fn : batch) {
    fn();
  }
}

bool reactor::kernel_has_events() const noexcept {
  // Raised by the kernel when it queues task work (with IORING_SETUP_TASKRUN_FLAG) or when CQEs
  // overflowed the ring: either way only an io_uring_enter makes them visible as CQEs.
  return (IO_URING_READ_ONCE(*_ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

bool reactor::spin_for_event() {
  // What is queued must reach the kernel before we wait for its completions.
  if (io_uring_sq_ready(&_ring) > 0) {
    io_uring_submit(&_ring);
  }
  // Deferred or cooperative task work is invisible in the CQ ring until we enter the kernel;
  // without the TASKRUN flag the spin has to enter (without waiting) to look.
  const bool must_enter =
      (_setup_flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN)) != 0 &&
      (_setup_flags & IORING_SETUP_TASKRUN_FLAG) == 0;
  using clock = std::chrono::steady_clock;
  const clock::time_point deadline = clock::now() + std::chrono::microseconds(_cfg.poll_us);
  for (unsigned i = 1;; ++i) {
    if (must_enter) {
      io_uring_get_events(&_ring);
    }
    if (io_uring_cq_ready(&_ring) > 0 || kernel_has_events() || io_uring_sq_ready(&_ring) > 0 ||
        _posted_pending.load(std::memory_order_acquire)) {
      return true;
    }
    // The clock is read through the vDSO (tens of ns): every 16th turn keeps the window's
    // overshoot far below a microsecond.
    if (i % 16 == 0 && clock::now() >= deadline) {
      return false;
    }
    cpu_relax();
  }
}

void reactor::poll_once(bool block) {
  if (block && _cfg.poll_us > 0) {
    if (spin_for_event()) {
      ++_wait_stats.spin_hits;
      block = false;
    } else {
      ++_wait_stats.spin_misses;
    }
  }
  if (block) {
    ++_wait_stats.sleeps;
    io_uring_submit_and_wait(&_ring, 1);
  } else {
    io_uring_submit(&_ring);
    // With the TASKRUN flag the kernel tells us whether task work is queued, which saves a
    // system call per turn when it is not; otherwise ask every turn.
    if ((_setup_flags & IORING_SETUP_DEFER_TASKRUN) &&
        (!(_setup_flags & IORING_SETUP_TASKRUN_FLAG) || kernel_has_events())) {
      io_uring_get_events(&_ring);
    }
  }
  io_uring_cqe* cqes[cqe_batch];
  unsigned n = io_uring_peek_batch_cqe(&_ring, cqes, cqe_batch);
  struct item {
    completion* c;
    int res;
    uint32_t flags;
  };
  item items[cqe_batch];
  for (unsigned i = 0; i < n; ++i) {
    items[i] = {reinterpret_cast<completion*>(io_uring_cqe_get_data64(cqes[i])), cqes[i]->res,
                cqes[i]->flags};
  }
  io_uring_cq_advance(&_ring, n);
  for (unsigned i = 0; i < n; ++i) {
    if (items[i].c) {
      ++_completions;
      items[i].c->complete(items[i].res, items[i].flags);
    }
  }
}

void reactor::run_until(const bool& done) {
  while (!done) {
    arm_eventfd();
    drain_posted();
    while (!_ready.empty()) {
      std::coroutine_handle<> h = _ready.front();
      _ready.pop_front();
      h.resume();
      if (done) {
        return;
      }
    }
    if (done) {
      return;
    }
    poll_once(_ready.empty() && !_posted_pending.load(std::memory_order_acquire));
  }
}

}  // namespace ossuring
