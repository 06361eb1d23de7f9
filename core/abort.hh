// abort_source: explicit cancellation passed down to operations (after seastar's abort_source).
//
// Single-threaded: a source and its subscriptions live on one reactor. A subscription is an
// intrusive list node owned by the operation that can be cancelled; it unlinks itself when
// destroyed, so an operation that finished first is never called back.
#pragma once

#include <functional>
#include <utility>

namespace ossuring {

class abort_source;

class abort_subscription {
 public:
  abort_subscription() = default;
  abort_subscription(const abort_subscription&) = delete;
  abort_subscription& operator=(const abort_subscription&) = delete;
  ~abort_subscription() { unlink(); }

  // Calls `fn` once when `src` is aborted (at once if it already was). `src` may be null.
  void subscribe(abort_source* src, std::function<void()> fn);
  void unlink() noexcept;

 private:
  friend class abort_source;
  abort_source* _src = nullptr;
  abort_subscription* _prev = nullptr;
  abort_subscription* _next = nullptr;
  std::function<void()> _fn;
};

class abort_source {
 public:
  abort_source() = default;
  abort_source(const abort_source&) = delete;
  abort_source& operator=(const abort_source&) = delete;
  ~abort_source() {
    if (_alive) {
      *_alive = false;  // a callback of request_abort() destroyed us: it must stop
    }
    while (_head) {
      _head->unlink();
    }
  }

  bool aborted() const noexcept { return _aborted; }

  // Runs every subscriber once; later subscribers are called at subscription time. A subscriber
  // may resume a coroutine that destroys this source (its frame held it): the loop notices and
  // stops touching it; the subscriptions still linked were unlinked by the destructor.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// `_alive` points at a local only while this runs: reset before returning, or `this` is gone.
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
  void request_abort() {
    if (_aborted) {
      return;
    }
    _aborted = true;
    bool alive = true;
    _alive = &alive;
    while (alive && _head) {
      abort_subscription* s = _head;
      std::function<void()> fn = std::move(s->_fn);
      s->unlink();
      if (fn) {
        fn();
      }
    }
    if (alive) {
      _alive = nullptr;
    }
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

 private:
  friend class abort_subscription;
  abort_subscription* _head = nullptr;
  bool _aborted = false;
  bool* _alive = nullptr;  // set while request_abort() runs
};

inline void abort_subscription::subscribe(abort_source* src, std::function<void()> fn) {
  unlink();
  if (!src) {
    return;
  }
  if (src->_aborted) {
    fn();
    return;
  }
  _fn = std::move(fn);
  _src = src;
  _next = src->_head;
  if (_next) {
    _next->_prev = this;
  }
  src->_head = this;
}

inline void abort_subscription::unlink() noexcept {
  if (!_src) {
    return;
  }
  if (_prev) {
    _prev->_next = _next;
  } else {
    _src->_head = _next;
  }
  if (_next) {
    _next->_prev = _prev;
  }
  _src = nullptr;
  _prev = _next = nullptr;
}

}  // namespace ossuring
