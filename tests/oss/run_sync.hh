// Runs a task to completion on the calling thread, for tests whose awaited work never suspends
// (fake fetchers, in-memory sources).
#pragma once

#include <stdexcept>
#include <utility>

#include "core/task.hh"

namespace ossuring::test {

template <typename T>
T run_sync(task<T> t) {
  auto h = t.release();
  h.resume();
  if (!h.done()) {
    h.destroy();
    throw std::logic_error("run_sync: the task suspended");
  }
  struct destroyer {
    decltype(h) handle;
    ~destroyer() { handle.destroy(); }
  } guard{h};
  return h.promise().take();
}

}  // namespace ossuring::test
