// Unit tests of percent-encoding, query strings and the protocol's time formats.
#include <doctest/doctest.h>

#include "http/oss/time.hh"
#include "http/oss/uri.hh"

using namespace ossuring::oss;

TEST_CASE("uri_encode escapes everything outside the RFC 3986 unreserved set") {
  CHECK(uri_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(uri_encode("a b+c/d%e") == "a%20b%2Bc%2Fd%25e");
  CHECK(uri_encode("!'()*") == "%21%27%28%29%2A");
  CHECK(uri_encode("\xe4\xb8\xad") == "%E4%B8%AD");
  CHECK(uri_encode(std::string("\0\xff", 2)) == "%00%FF");
}

TEST_CASE("uri_encode_path keeps slashes") {
  CHECK(uri_encode_path("/bucket/1234+-/123/1.txt") == "/bucket/1234%2B-/123/1.txt");
  CHECK(uri_encode_path("/b/../a b") == "/b/../a%20b");
}

TEST_CASE("uri_decode reverses uri_encode for every byte") {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  auto d = uri_decode(uri_encode(all));
  REQUIRE(d);
  CHECK(*d == all);
  CHECK(*uri_decode("%e4%B8%ad") == "\xe4\xb8\xad");
}

TEST_CASE("uri_decode treats plus as space only when asked") {
  CHECK(*uri_decode("a+b") == "a+b");
  CHECK(*uri_decode("a+b%2B", true) == "a b+");
}

TEST_CASE("uri_decode_in_place decodes inside the buffer and leaves what follows alone") {
  std::string buf = "a%2Fb+c%E4%B8%AD|tail";
  auto n = uri_decode_in_place(buf.data(), buf.find('|'), true);
  REQUIRE(n);
  CHECK(buf.substr(0, *n) == "a/b c\xe4\xb8\xad");
  CHECK(buf.substr(buf.find('|')) == "|tail");
  std::string bad = "ab%4";
  auto e = uri_decode_in_place(bad.data(), bad.size());
  REQUIRE_FALSE(e);
  CHECK(e.err().code == EINVAL);
  CHECK(e.err().message.find("offset 2") != std::string::npos);
}

TEST_CASE("uri_decode reports malformed escapes") {
  for (const char* bad : {"%", "%4", "a%", "%zz", "%4g", "abc%2"}) {
    auto d = uri_decode(bad);
    CHECK_FALSE(d);
    if (!d) {
      CHECK(d.err().code == EINVAL);
    }
  }
}

TEST_CASE("parse_query decodes names and values, bare names have empty values") {
  auto q = parse_query("list-type=2&prefix=a%2Fb%20c&&uploads&x=");
  REQUIRE(q);
  CHECK(*q == query_params{{"list-type", "2"}, {"prefix", "a/b c"}, {"uploads", ""}, {"x", ""}});
  CHECK(parse_query("")->empty());
  CHECK_FALSE(parse_query("a=%zz"));
  CHECK_FALSE(parse_query("%=1"));
}

TEST_CASE("build_query encodes in order and writes empty values bare") {
  CHECK(build_query({{"uploadId", "a b"}, {"partNumber", "1"}, {"uploads", ""}}) ==
        "uploadId=a%20b&partNumber=1&uploads");
  CHECK(build_query({}) == "");
}

TEST_CASE("rfc1123 formats and parses the Date header form") {
  CHECK(format_rfc1123(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(format_rfc1123(1672223261) == "Wed, 28 Dec 2022 10:27:41 GMT");
  CHECK(format_rfc1123(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(*parse_rfc1123("Wed, 28 Dec 2022 10:27:41 GMT") == 1672223261);
  for (int64_t t : {int64_t{0}, int64_t{951782400}, int64_t{1702743657}, int64_t{4102444799}}) {
    CHECK(*parse_rfc1123(format_rfc1123(t)) == t);
  }
}

TEST_CASE("rfc1123 parsing refuses malformed dates") {
  for (const char* bad : {"", "Wed, 28 Dec 2022 10:27:41", "Wed, 28 Dec 2022 10:27:41 PST",
                          "Xyz, 28 Dec 2022 10:27:41 GMT", "Wed, 28 Foo 2022 10:27:41 GMT",
                          "Wed, 30 Feb 2022 10:27:41 GMT", "Wed, 28 Dec 2022 24:00:00 GMT",
                          "Wed, 28 Dec 2022 10:27:4x GMT", "Wed 28 Dec 2022 10:27:41 GMT  "}) {
    CHECK_FALSE(parse_rfc1123(bad));
  }
}

TEST_CASE("iso8601 parses OSS LastModified and credential Expiration forms") {
  auto a = parse_iso8601("2012-02-24T08:42:32.000Z");
  REQUIRE(a);
  CHECK(a->sec == 1330072952);
  CHECK(a->nsec == 0);
  auto b = parse_iso8601("2023-12-29T07:45:02Z");
  REQUIRE(b);
  CHECK(b->sec == 1703835902);
  auto c = parse_iso8601("2023-12-29T15:45:02.123456789+08:00");
  REQUIRE(c);
  CHECK(c->sec == 1703835902);
  CHECK(c->nsec == 123456789);
  CHECK(parse_iso8601("2023-12-29T07:45:02.5Z")->nsec == 500000000);
  CHECK(parse_iso8601("2024-02-29T00:00:00Z")->sec == 1709164800);
}

TEST_CASE("iso8601 parsing refuses malformed timestamps") {
  for (const char* bad :
       {"", "2023-12-29", "2023-12-29T07:45:02", "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2023-12-29T07:45:02.Z", "2023-12-29T07:45:02.1234567890Z", "2023-12-29T07:45:02Zjunk",
        "2023-12-29T07:45:02+0800", "99999-12-29T07:45:02Z", "2023-12-29 07:45:02Z"}) {
    CHECK_FALSE(parse_iso8601(bad));
  }
}

TEST_CASE("iso8601 and v4 date formatting") {
  CHECK(format_iso8601(1330072952, 123999999) == "2012-02-24T08:42:32.123Z");
  CHECK(format_v4_date(1702743657) == "20231216T162057Z");
  CHECK(format_v4_date(0) == "19700101T000000Z");
  CHECK(format_v4_date(951868799) == "20000229T235959Z");
  // Years past four digits take the general path.
  CHECK(format_v4_date(253402300800) == "100000101T000000Z");
  CHECK(format_rfc1123(253402300800) == "Sat, 01 Jan 10000 00:00:00 GMT");
  auto rt = parse_iso8601(format_iso8601(1703835902, 250000000));
  CHECK(*rt == timestamp{1703835902, 250000000});
}
