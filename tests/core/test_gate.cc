// gate: spawned tasks are counted, close waits for them, failures are counted, not rethrown.
#include <doctest/doctest.h>

#include <stdexcept>

#include "core/gate.hh"
#include "core/log.hh"
#include "tests/core/support.hh"

using namespace ossuring;
using ossuring::test::counted;
using ossuring::test::eager;
using ossuring::test::manual_event;

namespace {

task<void> wait_then_count(manual_event* ev, int* finished, counted c) {
  (void)c;
  co_await *ev;
  ++*finished;
}

task<void> wait_then_throw(manual_event* ev) {
  co_await *ev;
  throw std::runtime_error("background failure");
}

eager close_and_flag(gate* g, bool* closed) {
  co_await g->close();
  *closed = true;
}

}  // namespace

TEST_SUITE("gate") {
  TEST_CASE("close waits for every spawned task") {
    counted::live = 0;
    manual_event ev;
    int finished = 0;
    bool closed = false;
    gate g;
    for (int i = 0; i < 3; ++i) {
      g.spawn(wait_then_count(&ev, &finished, counted{}));
    }
    CHECK(g.count() == 3);
    CHECK(counted::live == 3);
    close_and_flag(&g, &closed);
    CHECK(g.closed());
    CHECK_FALSE(closed);
    ev.fire();
    CHECK(finished == 3);
    CHECK(closed);
    CHECK(g.count() == 0);
    CHECK(counted::live == 0);
  }

  TEST_CASE("a spawned task starts at once and runs to its first suspension") {
    manual_event ev;
    int finished = 0;
    gate g;
    ev.fired = true;  // nothing to wait for: the task completes inside spawn
    g.spawn(wait_then_count(&ev, &finished, counted{}));
    CHECK(finished == 1);
    CHECK(g.count() == 0);
  }

  TEST_CASE("failures of spawned tasks are counted and do not stop close") {
    set_log_level(log_level::off);
    manual_event ev;
    int finished = 0;
    bool closed = false;
    gate g;
    g.spawn(wait_then_throw(&ev));
    g.spawn(wait_then_count(&ev, &finished, counted{}));
    g.spawn(wait_then_throw(&ev));
    close_and_flag(&g, &closed);
    ev.fire();
    CHECK(closed);
    CHECK(finished == 1);
    CHECK(g.failures() == 2);
    set_log_level(log_level::info);
  }

  TEST_CASE("spawning into a closed gate is refused") {
    manual_event ev;
    int finished = 0;
    bool closed = false;
    gate g;
    close_and_flag(&g, &closed);
    CHECK(closed);
    CHECK_THROWS_AS(g.spawn(wait_then_count(&ev, &finished, counted{})), std::logic_error);
    g.reopen();
    ev.fired = true;
    g.spawn(wait_then_count(&ev, &finished, counted{}));
    CHECK(finished == 1);
  }
}
