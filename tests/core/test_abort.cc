// abort_source: subscribers are called once, and may end the source's owner while being called.
#include <doctest/doctest.h>

#include <memory>

#include "core/abort.hh"

TEST_CASE("a subscriber may destroy the abort source that is calling it") {
  // As when an abort resumes a coroutine whose frame owns the source.
  auto src = std::make_unique<ossuring::abort_source>();
  ossuring::abort_subscription first;
  ossuring::abort_subscription second;
  int calls = 0;
  // Subscribed second, called first (the list is last-in, first-out).
  second.subscribe(src.get(), [&] { ++calls; });
  first.subscribe(src.get(), [&] {
    ++calls;
    src.reset();
  });
  ossuring::abort_source* raw = src.get();
  raw->request_abort();  // must not touch the freed source (ASan) nor call `second`
  CHECK(src == nullptr);
  CHECK(calls == 1);
}
