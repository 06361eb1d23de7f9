// sync: a task_group waits for tasks that spawn more; a oneshot_event wakes its waiters inside
// set(), lets later waiters through, and ends a wait whose abort_source fires.
#include <doctest/doctest.h>

#include <vector>

#include "core/abort.hh"
#include "core/sync.hh"
#include "tests/core/support.hh"

using namespace ossuring;
using ossuring::test::eager;

namespace {

task<void> wait_then_log(oneshot_event* ev, std::vector<int>* log, int id) {
  co_await ev->wait();
  log->push_back(id);
}

// Waits on `ev`, then spawns a follow-up into the same group (as a listing splits itself).
task<void> wait_then_spawn(task_group* g, oneshot_event* ev, oneshot_event* next,
                           std::vector<int>* log) {
  co_await ev->wait();
  log->push_back(1);
  g->spawn(wait_then_log(next, log, 2));
}

eager wait_group(task_group* g, bool* finished) {
  co_await g->wait();
  *finished = true;
}

eager wait_abortable(oneshot_event* ev, abort_source* abort, int* outcome) {
  const bool set = co_await ev->wait(abort);
  *outcome = set ? 1 : 2;
}

}  // namespace

TEST_SUITE("sync") {
  TEST_CASE("task_group: wait completes only after tasks spawned while waiting") {
    task_group g;
    oneshot_event first;
    oneshot_event second;
    std::vector<int> log;
    bool finished = false;
    g.spawn(wait_then_spawn(&g, &first, &second, &log));
    CHECK(g.pending() == 1);
    wait_group(&g, &finished);
    CHECK_FALSE(finished);
    first.set();
    CHECK(log == std::vector<int>{1});
    CHECK(g.pending() == 1);  // the follow-up
    CHECK_FALSE(finished);
    second.set();
    CHECK(log == std::vector<int>{1, 2});
    CHECK(g.pending() == 0);
    CHECK(finished);
  }

  TEST_CASE("task_group: waiting on an empty group completes at once") {
    task_group g;
    bool finished = false;
    wait_group(&g, &finished);
    CHECK(finished);
  }

  TEST_CASE("oneshot_event: set resumes every waiter before it returns") {
    oneshot_event ev;
    task_group g;
    std::vector<int> log;
    g.spawn(wait_then_log(&ev, &log, 1));
    g.spawn(wait_then_log(&ev, &log, 2));
    CHECK(log.empty());
    CHECK_FALSE(ev.is_set());
    ev.set();
    CHECK(log == std::vector<int>{1, 2});  // inline, no reactor turn
    CHECK(ev.is_set());
    g.spawn(wait_then_log(&ev, &log, 3));  // a later waiter passes straight through
    CHECK(log == std::vector<int>{1, 2, 3});
    CHECK(g.pending() == 0);
  }

  TEST_CASE("oneshot_event: an abort ends the wait with false and leaves other waiters") {
    oneshot_event ev;
    abort_source abort;
    int aborted = 0;
    int plain = 0;
    wait_abortable(&ev, &abort, &aborted);
    wait_abortable(&ev, nullptr, &plain);
    abort.request_abort();
    CHECK(aborted == 2);
    CHECK(plain == 0);
    ev.set();
    CHECK(plain == 1);
    CHECK(aborted == 2);  // resumed once only
  }

  TEST_CASE("oneshot_event: a wait on an aborted source does not suspend") {
    oneshot_event ev;
    abort_source abort;
    abort.request_abort();
    int outcome = 0;
    wait_abortable(&ev, &abort, &outcome);
    CHECK(outcome == 2);
  }
}
