// Bad input at the parsers' edges: huge and deeply nested XML, invalid url-encoding in listings,
// header floods, absurd lengths and odd FUSE names each get an error (or a bounded result),
// never a crash or an unbounded allocation. The fuzz targets next to this file explore further.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fs/fuse/codec.hh"
#include "http/h1_parser.hh"
#include "http/oss/xml.hh"

namespace {

using namespace ossuring;

std::string listing(const std::string& key, bool url) {
  return std::string("<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name>") +
         (url ? "<EncodingType>url</EncodingType>" : "") +
         "<IsTruncated>false</IsTruncated><Contents><Key>" + key +
         "</Key><LastModified>2023-11-14T22:13:20.000Z</LastModified><ETag>\"E\"</ETag>"
         "<Size>3</Size></Contents></ListBucketResult>";
}

std::vector<uint8_t> fuse_message(uint32_t opcode, const std::string& body, uint32_t len = 0) {
  std::vector<uint8_t> m(40 + body.size());
  uint32_t l = len ? len : static_cast<uint32_t>(m.size());
  std::memcpy(m.data(), &l, 4);
  std::memcpy(m.data() + 4, &opcode, 4);
  uint64_t unique = 9, nodeid = 1;
  std::memcpy(m.data() + 8, &unique, 8);
  std::memcpy(m.data() + 16, &nodeid, 8);
  std::memcpy(m.data() + 40, body.data(), body.size());
  return m;
}

// Feeds all of `text` as a connection would (the parser may consume a prefix per call); false
// as soon as the parser reports an error.
bool feed_all(http::h1_response_parser& p, std::string_view text) {
  while (!text.empty()) {
    auto n = p.feed(text);
    if (!n.ok()) {
      return false;
    }
    if (*n == 0) {
      break;
    }
    text.remove_prefix(*n);
  }
  return true;
}

constexpr uint32_t op_lookup = 1;
constexpr uint32_t op_getxattr = 22;

}  // namespace

TEST_CASE("deeply nested XML is refused as a listing without exhausting the stack") {
  std::string xml;
  for (int i = 0; i < 200000; ++i) {
    xml += "<a>";
  }
  for (int i = 0; i < 200000; ++i) {
    xml += "</a>";
  }
  CHECK_FALSE(oss::parse_list_objects_v2(xml).ok());
  CHECK_FALSE(oss::parse_list_objects_v1(xml).ok());
  CHECK_FALSE(oss::parse_error_body(xml).ok());
}

TEST_CASE("a listing nested inside itself yields no invented objects") {
  std::string xml = "<ListBucketResult>";
  for (int i = 0; i < 5000; ++i) {
    xml += "<Contents>";
  }
  xml += "<Key>k</Key><Size>1</Size>";
  for (int i = 0; i < 5000; ++i) {
    xml += "</Contents>";
  }
  xml += "</ListBucketResult>";
  auto r = oss::parse_list_objects_v2(xml);
  if (r.ok()) {
    CHECK(r->objects.size() <= 1);
  }
}

TEST_CASE("a huge listing parses completely or fails, whole") {
  std::string xml = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (int i = 0; i < 50000; ++i) {
    xml += "<Contents><Key>k" + std::to_string(i) + "</Key><Size>1</Size></Contents>";
  }
  xml += "</ListBucketResult>";
  auto r = oss::parse_list_objects_v2(xml);
  REQUIRE(r.ok());
  CHECK(r->objects.size() == 50000);
}

TEST_CASE("truncated and malformed listings are errors") {
  std::string good = listing("a", false);
  REQUIRE(oss::parse_list_objects_v2(good).ok());
  for (size_t cut : {size_t(0), size_t(1), good.size() / 3, good.size() / 2, good.size() - 2}) {
    CAPTURE(cut);
    CHECK_FALSE(oss::parse_list_objects_v2(good.substr(0, cut)).ok());
  }
  CHECK_FALSE(oss::parse_list_objects_v2(std::string(1000, '\0')).ok());
}

TEST_CASE("invalid url-encoding in a url-encoded listing is an error, never a raw key") {
  auto ok = oss::parse_list_objects_v2(listing("a%20b%2Bc", true));
  REQUIRE(ok.ok());
  CHECK(ok->objects.at(0).key == "a b+c");
  for (const char* bad : {"%G0", "abc%", "abc%2", "%zz/x", "a%"}) {
    CAPTURE(bad);
    auto r = oss::parse_list_objects_v2(listing(bad, true));
    if (r.ok()) {
      // Accepted only if decoding did not silently keep escape garbage as a key.
      REQUIRE(r->objects.size() == 1);
      CHECK(r->objects[0].key.find('%') != std::string::npos);
      FAIL_CHECK("invalid escape accepted: " << r->objects[0].key);
    }
  }
}

TEST_CASE("response header floods and absurd lengths are refused") {
  http::h1_response_parser p;
  p.start("GET");
  std::string flood = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10000; ++i) {
    flood += "x-h" + std::to_string(i) + ": v\r\n";
  }
  flood += "\r\n";
  CHECK_FALSE(feed_all(p, flood));

  http::h1_response_parser q;
  q.start("GET");
  std::string long_line = "HTTP/1.1 200 OK\r\nx-big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
  CHECK_FALSE(feed_all(q, long_line));

  // Fed a byte at a time, the flood is still refused once past the limit (no unbounded buffer).
  http::h1_response_parser r;
  r.start("GET");
  bool refused = false;
  for (size_t i = 0; i < flood.size() && !refused; ++i) {
    refused = !feed_all(r, std::string_view(&flood[i], 1));
  }
  CHECK(refused);

  for (const char* head : {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "FFFFFFFFFFFFFFFFFFFFFF\r\n",
                           "HTTP/9.9 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n"}) {
    std::string text = head;
    CAPTURE(text);
    http::h1_response_parser s;
    s.start("GET");
    CHECK_FALSE(feed_all(s, text));
  }
}

TEST_CASE("FUSE requests with odd names or lengths decode safely") {
  // Names: the codec hands the file system exactly the bytes before the NUL.
  for (std::string name : {std::string("a b"), std::string("ü文件"), std::string(255, 'x'),
                           std::string(4000, 'y'), std::string("..."), std::string("\n\t")}) {
    auto m = fuse_message(op_lookup, name + '\0');
    auto r = fs::fuse::decode(m.data(), m.size());
    REQUIRE(r.ok());
    CHECK(std::get<fs::fuse::req::lookup>(r->body).name == name);
  }
  // No terminating NUL, an empty message, a length field that lies: errors.
  auto unterminated = fuse_message(op_lookup, "abc");
  CHECK_FALSE(fs::fuse::decode(unterminated.data(), unterminated.size()).ok());
  auto empty_name = fuse_message(op_lookup, "");
  CHECK_FALSE(fs::fuse::decode(empty_name.data(), empty_name.size()).ok());
  auto lying = fuse_message(op_lookup, std::string("abc") + '\0', 1 << 20);
  CHECK_FALSE(fs::fuse::decode(lying.data(), lying.size()).ok());
  auto short_len = fuse_message(op_lookup, std::string("abc") + '\0', 20);
  CHECK_FALSE(fs::fuse::decode(short_len.data(), short_len.size()).ok());
  CHECK_FALSE(fs::fuse::decode(lying.data(), 10).ok());
  CHECK_FALSE(fs::fuse::decode(nullptr, 0).ok());
  auto xattr_short = fuse_message(op_getxattr, "ab");
  CHECK_FALSE(fs::fuse::decode(xattr_short.data(), xattr_short.size()).ok());
}
