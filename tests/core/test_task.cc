// task<T> semantics: laziness, symmetric transfer depth, exceptions, frame ownership.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/task.hh"
#include "tests/core/support.hh"

using namespace ossuring;
using ossuring::test::counted;
using ossuring::test::sync_await;

namespace {

task<int> set_flag_and_return(bool* ran, int v) {
  *ran = true;
  co_return v;
}

task<int> one() {
  co_return 1;
}

// Records how far the stack has moved between the first and the deepest resumption of one().
struct stack_probe {
  uintptr_t first = 0;
  uintptr_t lowest = UINTPTR_MAX;
  uintptr_t highest = 0;
};

task<int> one_probed(stack_probe* p) {
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (p->first == 0) {
    p->first = here;
  }
  p->lowest = here < p->lowest ? here : p->lowest;
  p->highest = here > p->highest ? here : p->highest;
  co_return 1;
}

task<int64_t> sum_sequential(int n, stack_probe* p) {
  int64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    sum += co_await one_probed(p);
  }
  co_return sum;
}

task<int> nested(int depth) {
  if (depth == 0) {
    co_return 0;
  }
  co_return 1 + co_await nested(depth - 1);
}

task<int> throws_runtime_error() {
  throw std::runtime_error("boom from the callee");
  co_return 0;
}

task<std::string> catches_callee_exception() {
  try {
    co_await throws_runtime_error();
  } catch (const std::runtime_error& e) {
    co_return std::string("caught: ") + e.what();
  }
  co_return "not caught";
}

task<void> void_throws() {
  throw std::logic_error("void boom");
  co_return;
}

task<int> holds_counted(counted c, bool* ran) {
  (void)c;
  *ran = true;
  co_return 7;
}

task<int> awaits_counted_twice(bool* ran) {
  counted local;
  int a = co_await holds_counted(counted{}, ran);
  int b = co_await holds_counted(counted{}, ran);
  co_return a + b + (counted::live > 0 ? 0 : 100);
}

task<std::unique_ptr<int>> move_only_value(int v) {
  co_return std::make_unique<int>(v);
}

}  // namespace

TEST_SUITE("task") {
  TEST_CASE("task is move-only and nodiscard-typed") {
    static_assert(!std::is_copy_constructible_v<task<int>>);
    static_assert(std::is_nothrow_move_constructible_v<task<int>>);
    task<int> a = one();
    task<int> b = std::move(a);
    CHECK_FALSE(a.valid());
    CHECK(b.valid());
    CHECK(sync_await(std::move(b)) == 1);
  }

  TEST_CASE("a task body does not run until the task is awaited") {
    bool ran = false;
    task<int> t = set_flag_and_return(&ran, 42);
    CHECK_FALSE(ran);
    CHECK_FALSE(t.done());
    CHECK(sync_await(std::move(t)) == 42);
    CHECK(ran);
  }

  TEST_CASE("a million sequential awaits complete without growing the stack") {
    stack_probe probe;
    int64_t sum = sync_await(sum_sequential(1'000'000, &probe));
    CHECK(sum == 1'000'000);
    // Without symmetric transfer each completed await would leave a frame on the stack: a
    // million of them would span tens of megabytes (or crash). With it the spread is nil.
    CHECK(probe.highest - probe.lowest < 4096);
  }

  TEST_CASE("a thousand nested awaits return through every level") {
    CHECK(sync_await(nested(1000)) == 1000);
  }

  TEST_CASE("an exception escaping a task is rethrown in its awaiter") {
    CHECK(sync_await(catches_callee_exception()) == "caught: boom from the callee");
    CHECK_THROWS_WITH_AS(sync_await(void_throws()), "void boom", std::logic_error);
  }

  TEST_CASE("destroying an un-awaited task frees its frame without running it") {
    counted::live = 0;
    bool ran = false;
    {
      task<int> t = holds_counted(counted{}, &ran);
      CHECK(counted::live == 1);  // the parameter copy lives in the frame
    }
    CHECK(counted::live == 0);
    CHECK_FALSE(ran);
  }

  TEST_CASE("awaited tasks free their frames when they finish") {
    counted::live = 0;
    bool ran = false;
    CHECK(sync_await(awaits_counted_twice(&ran)) == 14);
    CHECK(ran);
    CHECK(counted::live == 0);
  }

  TEST_CASE("move-assigning over a pending task destroys the old frame") {
    counted::live = 0;
    bool ran = false;
    task<int> t = holds_counted(counted{}, &ran);
    t = holds_counted(counted{}, &ran);
    CHECK(counted::live == 1);
    CHECK(sync_await(std::move(t)) == 7);
    CHECK(counted::live == 0);
  }

  TEST_CASE("a task can return a move-only value") {
    std::unique_ptr<int> p = sync_await(move_only_value(5));
    REQUIRE(p);
    CHECK(*p == 5);
  }
}

namespace {

task<int> small_frame(int v) {
  co_return v + 1;
}

}  // namespace

TEST_CASE("task frames are recycled per thread, within the cap") {
  if (!detail::frame_pool_enabled) {
    return;  // AddressSanitizer build: frames go straight to operator new/delete
  }
  using detail::frame_pool;
  void* a = frame_pool::allocate(100);
  frame_pool::deallocate(a, 100);
  size_t cached = frame_pool::cached_bytes();
  CHECK(cached >= 128);
  void* b = frame_pool::allocate(120);  // same 64-byte class as 100
  CHECK(b == a);
  CHECK(frame_pool::cached_bytes() == cached - 128);
  frame_pool::deallocate(b, 120);

  // Frames larger than the largest class are never kept.
  void* big = frame_pool::allocate(frame_pool::max_frame + 1);
  frame_pool::deallocate(big, frame_pool::max_frame + 1);
  CHECK(frame_pool::cached_bytes() == cached);

  // The cache stops growing at its cap: the rest goes back to operator delete.
  std::vector<void*> many;
  for (size_t i = 0; i < 2 * frame_pool::max_cached_bytes / frame_pool::max_frame; ++i) {
    many.push_back(frame_pool::allocate(frame_pool::max_frame));
  }
  for (void* p : many) {
    frame_pool::deallocate(p, frame_pool::max_frame);
  }
  CHECK(frame_pool::cached_bytes() <= frame_pool::max_cached_bytes);
  CHECK(frame_pool::cached_bytes() + frame_pool::max_frame > frame_pool::max_cached_bytes);

  // A coroutine's frame comes from (and returns to) the pool.
  size_t before = frame_pool::cached_bytes();
  CHECK(sync_await(small_frame(1)) == 2);
  CHECK(frame_pool::cached_bytes() == before);
}
