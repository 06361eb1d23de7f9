// Awaitable io_uring operations: file, socket and timer calls as `co_await op(...)` returning the
// CQE result (>= 0, or a negative errno).
//
// Invariant (the reason this file is shaped as it is): an operation's state lives in its awaiter,
// and the awaiter lives in the frame of the coroutine that awaits it. That coroutine is resumed
// only from `complete()` after the operation's LAST CQE: with a linked timeout there are two
// CQEs (the operation's and the timer's) and the coroutine waits for both. Cancellation (an
// abort_source fired, or the timeout) submits IORING_OP_ASYNC_CANCEL and still waits for the
// -ECANCELED completion. So the kernel never writes into, or completes to, a destroyed awaiter.
//
// Results: a timeout yields -ETIMEDOUT, an abort -ECANCELED (the kernel's -EINTR for an
// interrupted blocking operation is mapped too). An operation the kernel had already finished
// when the cancel reached it keeps its real result: bytes received are never thrown away.
#pragma once

#include <fcntl.h>
#include <liburing.h>
#include <linux/stat.h>
#include <sys/socket.h>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "core/abort.hh"
#include "core/reactor.hh"

namespace ossuring {

struct op_options {
  abort_source* abort = nullptr;
  // Zero means no deadline. Implemented as an IORING_OP_LINK_TIMEOUT linked to the operation.
  std::chrono::nanoseconds timeout{0};
};

inline __kernel_timespec to_kernel_timespec(std::chrono::nanoseconds d) {
  __kernel_timespec ts{};
  if (d.count() < 0) {
    d = std::chrono::nanoseconds(0);
  }
  ts.tv_sec = d.count() / 1'000'000'000;
  ts.tv_nsec = d.count() % 1'000'000'000;
  return ts;
}

template <typename Prep>
class [[nodiscard]] uring_op final : public completion {
 public:
  uring_op(Prep prep, op_options opts) : _prep(std::move(prep)), _opts(opts) {}
  uring_op(const uring_op&) = delete;
  uring_op& operator=(const uring_op&) = delete;
  // Only reachable with CQEs outstanding if the awaiting frame was destroyed while suspended,
  // which breaks the invariant above; fail loudly rather than let the kernel write into it.
  ~uring_op() {
    if (_pending != 0) {
      detail::die_with_pending_completion("uring_op");
    }
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    if (_opts.abort && _opts.abort->aborted()) {
      _res = -ECANCELED;
      return false;
    }
    _caller = h;
    reactor& r = reactor::local();
    const bool timed = _opts.timeout.count() > 0;
    r.reserve_sqes(timed ? 2 : 1);
    io_uring_sqe* sqe = r.get_sqe();
    _prep(sqe);
    io_uring_sqe_set_data(sqe, static_cast<completion*>(this));
    _pending = 1;
    r.note_submitted();
    if (timed) {
      sqe->flags |= IOSQE_IO_LINK;
      _ts = to_kernel_timespec(_opts.timeout);
      io_uring_sqe* t = r.get_sqe();
      io_uring_prep_link_timeout(t, &_ts, 0);
      io_uring_sqe_set_data(t, static_cast<completion*>(&_timer));
      _pending = 2;
    }
    if (_opts.abort) {
      _abort.subscribe(_opts.abort, [this] { request_cancel(); });
    }
    return true;
  }

  int await_resume() const noexcept { return _res; }
  uint32_t cqe_flags() const noexcept { return _flags; }

  void complete(int res, uint32_t flags) noexcept override {
    _res = res;
    _flags = flags;
    settle();
  }

 private:
  struct timer_part final : completion {
    uring_op* op;
    explicit timer_part(uring_op* o) : op(o) {}
    void complete(int res, uint32_t) noexcept override {
      if (res == -ETIME) {
        op->_timed_out = true;
      }
      op->settle();
    }
  };

  void settle() noexcept {
    if (--_pending > 0) {
      return;
    }
    _abort.unlink();
    reactor::local().note_settled();
    if (_timed_out && (_res == -ECANCELED || _res == -EINTR)) {
      _res = -ETIMEDOUT;
    } else if (_cancel_requested && _res == -EINTR) {
      _res = -ECANCELED;
    }
    _caller.resume();
  }

  void request_cancel() {
    if (_pending == 0 || _cancel_requested) {
      return;
    }
    _cancel_requested = true;
    io_uring_sqe* sqe = reactor::local().get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(static_cast<completion*>(this)), 0);
    io_uring_sqe_set_data(sqe, nullptr);
  }

  Prep _prep;
  op_options _opts;
  std::coroutine_handle<> _caller;
  __kernel_timespec _ts{};
  timer_part _timer{this};
  abort_subscription _abort;
  int _res = 0;
  uint32_t _flags = 0;
  int _pending = 0;
  bool _timed_out = false;
  bool _cancel_requested = false;
};

template <typename Prep>
uring_op<std::decay_t<Prep>> make_op(Prep&& prep, op_options opts = {}) {
  return uring_op<std::decay_t<Prep>>(std::forward<Prep>(prep), opts);
}

// ---- files -------------------------------------------------------------------------------

// offset -1 means "current file position" (read/write), as for read(2)/write(2).
inline auto read(int fd, void* buf, unsigned len, uint64_t offset = static_cast<uint64_t>(-1),
                 op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_read(s, fd, buf, len, offset); }, o);
}
inline auto write(int fd, const void* buf, unsigned len,
                  uint64_t offset = static_cast<uint64_t>(-1), op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_write(s, fd, buf, len, offset); }, o);
}
inline auto pread(int fd, void* buf, unsigned len, uint64_t offset, op_options o = {}) {
  return read(fd, buf, len, offset, o);
}
inline auto pwrite(int fd, const void* buf, unsigned len, uint64_t offset, op_options o = {}) {
  return write(fd, buf, len, offset, o);
}
inline auto openat(int dirfd, const char* path, int flags, mode_t mode = 0, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_openat(s, dirfd, path, flags, mode); }, o);
}
inline auto close(int fd) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_close(s, fd); }, {});
}
inline auto statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out,
                  op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_statx(s, dirfd, path, flags, mask, out); },
                 o);
}
inline auto fsync(int fd, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_fsync(s, fd, 0); }, o);
}

// ---- sockets -----------------------------------------------------------------------------

// `addr` must stay valid until the operation completes (the awaiting frame owns it).
inline auto connect(int fd, const sockaddr* addr, socklen_t len, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_connect(s, fd, addr, len); }, o);
}
inline auto accept(int fd, op_options o = {}) {
  return make_op(
      [=](io_uring_sqe* s) { io_uring_prep_accept(s, fd, nullptr, nullptr, SOCK_CLOEXEC); }, o);
}
inline auto recv(int fd, void* buf, size_t len, int flags = 0, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_recv(s, fd, buf, len, flags); }, o);
}
inline auto send(int fd, const void* buf, size_t len, int flags = MSG_NOSIGNAL, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_send(s, fd, buf, len, flags); }, o);
}
// `msg` and the iovecs it points to must stay valid until the operation completes.
inline auto sendmsg(int fd, const msghdr* msg, int flags = MSG_NOSIGNAL, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_sendmsg(s, fd, msg, flags); }, o);
}
inline auto poll(int fd, unsigned events, op_options o = {}) {
  return make_op([=](io_uring_sqe* s) { io_uring_prep_poll_add(s, fd, events); }, o);
}

// ---- time --------------------------------------------------------------------------------

// Completes with 0 after `d`, or -ECANCELED when `abort` fires first.
class [[nodiscard]] sleep_op final : public completion {
 public:
  sleep_op(std::chrono::nanoseconds d, abort_source* abort)
      : _ts(to_kernel_timespec(d)), _abort_src(abort) {}
  sleep_op(const sleep_op&) = delete;
  sleep_op& operator=(const sleep_op&) = delete;
  ~sleep_op() {
    if (_pending) {
      detail::die_with_pending_completion("sleep_op");
    }
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    if (_abort_src && _abort_src->aborted()) {
      _res = -ECANCELED;
      return false;
    }
    _caller = h;
    reactor& r = reactor::local();
    io_uring_sqe* sqe = r.get_sqe();
    io_uring_prep_timeout(sqe, &_ts, 0, 0);
    io_uring_sqe_set_data(sqe, static_cast<completion*>(this));
    _pending = true;
    r.note_submitted();
    if (_abort_src) {
      _abort.subscribe(_abort_src, [this] {
        if (!_pending) {
          return;
        }
        io_uring_sqe* c = reactor::local().get_sqe();
        io_uring_prep_timeout_remove(c, reinterpret_cast<uint64_t>(static_cast<completion*>(this)),
                                     0);
        io_uring_sqe_set_data(c, nullptr);
      });
    }
    return true;
  }
  int await_resume() const noexcept { return _res; }
  void complete(int res, uint32_t) noexcept override {
    _pending = false;
    _abort.unlink();
    reactor::local().note_settled();
    _res = (res == -ETIME) ? 0 : res;
    _caller.resume();
  }

 private:
  __kernel_timespec _ts;
  abort_source* _abort_src;
  abort_subscription _abort;
  std::coroutine_handle<> _caller;
  int _res = 0;
  bool _pending = false;
};

inline sleep_op sleep_for(std::chrono::nanoseconds d, abort_source* abort = nullptr) {
  return sleep_op(d, abort);
}

// Gives other ready coroutines and completions a turn.
inline auto yield() {
  struct yield_awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { reactor::local().schedule(h); }
    void await_resume() const noexcept {}
  };
  return yield_awaiter{};
}

}  // namespace ossuring
