// The mock client itself: ListObjectsV2 semantics the file-system tests rely on.
#include <doctest/doctest.h>

#include "http/oss/crc64.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using test::sync_wait;

namespace {

// Lists everything a request matches, page by page; returns (keys and prefixes, pages).
std::pair<std::vector<std::string>, int> list_all(test::mock_client& m, oss::list_request req) {
  std::vector<std::string> out;
  int pages = 0;
  while (true) {
    auto p = sync_wait(m.list_objects_v2(req));
    REQUIRE(p.ok());
    ++pages;
    CHECK(p->objects.size() + p->common_prefixes.size() <= req.max_keys);
    for (const auto& o : p->objects) {
      out.emplace_back(o.key);
    }
    for (const auto& c : p->common_prefixes) {
      out.push_back(c);
    }
    if (!p->truncated) {
      CHECK(p->next_continuation_token.empty());
      break;
    }
    req.continuation_token = p->next_continuation_token;
  }
  std::sort(out.begin(), out.end());
  return {out, pages};
}

}  // namespace

TEST_CASE("mock listing: prefix, delimiter, max-keys pagination and start-after") {
  test::mock_client m;
  for (const char* k : {"a/1", "a/2", "a/sub/x", "a/sub/y", "a/t/z", "a0", "b/1", "a/"}) {
    m.put(k, "v");
  }
  auto [flat, pages] = list_all(m, {"a/", "", "", "", 2});
  CHECK(flat == std::vector<std::string>{"a/", "a/1", "a/2", "a/sub/x", "a/sub/y", "a/t/z"});
  CHECK(pages == 3);

  // Common prefixes count toward max-keys and are never repeated across pages.
  auto [grouped, gpages] = list_all(m, {"a/", "/", "", "", 1});
  CHECK(grouped == std::vector<std::string>{"a/", "a/1", "a/2", "a/sub/", "a/t/"});
  CHECK(gpages == 5);

  auto [after, apages] = list_all(m, {"a/", "", "a/2", "", 1000});
  CHECK(after == std::vector<std::string>{"a/sub/x", "a/sub/y", "a/t/z"});
  CHECK(apages == 1);

  // start-after before the prefix starts at the prefix; after it, nothing.
  CHECK(list_all(m, {"b/", "", "a", "", 1000}).first == std::vector<std::string>{"b/1"});
  CHECK(list_all(m, {"b/", "", "c", "", 1000}).first.empty());
  CHECK(m.calls.list == 11);
}

TEST_CASE("mock GET honours If-Match and ranges, and can park until released") {
  test::mock_client m;
  m.put("k", "0123456789");
  std::vector<std::byte> buf(4);
  oss::get_request r{"k", 3, 4, ""};
  auto g = sync_wait(m.get_object(r, buf));
  REQUIRE(g.ok());
  CHECK(g->bytes == 4);
  CHECK(static_cast<char>(buf[0]) == '3');
  CHECK(g->crc64 == oss::crc64("0123456789"));  // OSS sends the whole object's with ranges too
  r.if_match = "WRONG";
  CHECK(sync_wait(m.get_object(r, buf)).err().oss_code == "PreconditionFailed");
  m.park_gets = true;
  oss::get_request whole{"k", 0, 4, ""};  // must outlive the parked coroutine
  auto s = test::start(m.get_object(whole, buf));
  CHECK_FALSE(s.done());
  m.release_parked();
  CHECK(s.done());
  CHECK(s.get().ok());
}
