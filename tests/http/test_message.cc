// header_list: one arena for names and values; order, case-insensitive lookup, edits, aliasing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "http/message.hh"

using namespace ossuring::http;

TEST_CASE("header_list keeps arrival order and finds names ignoring case") {
  header_list h;
  CHECK(h.empty());
  CHECK_FALSE(h.find("etag").has_value());
  h.add("ETag", "\"abc\"");
  h.add("x-oss-request-id", "5C06A3B67B8B5A3DA422299D");
  h.add("Empty", "");
  h.add("etag", "second");
  REQUIRE(h.size() == 4);
  CHECK(h.get("etag") == "\"abc\"");  // the first of duplicates
  CHECK(h.get("X-OSS-REQUEST-ID") == "5C06A3B67B8B5A3DA422299D");
  REQUIRE(h.find("empty").has_value());
  CHECK(h.find("empty")->empty());  // present but empty: not the same as missing
  CHECK_FALSE(h.has("etags"));
  CHECK_FALSE(h.has("eta"));
  std::vector<std::string> seen;
  for (const header& x : h) {
    seen.push_back(std::string(x.name) + "=" + std::string(x.value));
  }
  CHECK(seen == std::vector<std::string>{"ETag=\"abc\"",
                                         "x-oss-request-id=5C06A3B67B8B5A3DA422299D",
                                         "Empty=", "etag=second"});
}

TEST_CASE("header_list set replaces every header of that name; remove drops them") {
  header_list h{{"Range", "bytes=0-1"}, {"range", "bytes=2-3"}, {"Host", "h"}};
  h.set("RANGE", "bytes=4-5");
  REQUIRE(h.size() == 2);
  CHECK(h.get("range") == "bytes=4-5");
  CHECK(h.at(0).name == "Host");
  CHECK(h.at(1).name == "RANGE");
  h.remove("host");
  CHECK(h.size() == 1);
  CHECK_FALSE(h.has("Host"));
  h.clear();
  CHECK(h.empty());
  h.add("a", "b");
  CHECK(h.get("A") == "b");
}

TEST_CASE("header_list add copes with a name or value that views its own storage") {
  header_list h;
  h.add("x-long-name-that-is-not-short", std::string(300, 'v'));
  // Each add may move the arena; copying a header from the list itself must stay correct.
  for (int i = 0; i < 20; ++i) {
    header first = h.at(0);
    h.add(first.value, first.name);
  }
  REQUIRE(h.size() == 21);
  for (size_t i = 1; i < h.size(); ++i) {
    CHECK(h.at(i).name == std::string(300, 'v'));
    CHECK(h.at(i).value == "x-long-name-that-is-not-short");
  }
}

TEST_CASE("header_list copies and moves own their text") {
  header_list a{{"k", "v"}};
  header_list b = a;
  a.set("k", "changed");
  CHECK(b.get("k") == "v");
  header_list c = std::move(a);
  CHECK(c.get("k") == "changed");
}
