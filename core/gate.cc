// gate: spawning, counting and closing background tasks.
#include "core/gate.hh"

#include <exception>
#include <utility>

#include "core/log.hh"
#include "core/reactor.hh"

namespace ossuring {

gate::~gate() {
  // Spawned frames hold a reference to the gate; destroying it under them is a use-after-free.
  if (_count != 0) {
    detail::die_with_pending_completion("gate with running tasks");
  }
}

void gate::spawn(task<void> t) {
  if (_closed) {
    throw std::logic_error("gate: spawn after close");
  }
  ++_count;
  run(*this, std::move(t));
}

detail::gate_runner gate::run(gate& g, task<void> t) {
  try {
    co_await std::move(t);
  } catch (const std::exception& e) {
    ++g._failures;
    log_error("background_task_failed", {{"what", e.what()}});
  } catch (...) {
    ++g._failures;
    log_error("background_task_failed", {{"what", "unknown exception"}});
  }
  g.leave();
}

void gate::leave() noexcept {
  if (--_count == 0 && _waiter) {
    std::coroutine_handle<> w = std::exchange(_waiter, {});
    if (reactor* r = reactor::current()) {
      r->schedule(w);
    } else {
      w.resume();
    }
  }
}

task<void> gate::close() {
  _closed = true;
  struct wait_empty {
    gate& g;
    bool await_ready() const noexcept { return g._count == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { g._waiter = h; }
    void await_resume() const noexcept {}
  };
  co_await wait_empty{*this};
}

}  // namespace ossuring
