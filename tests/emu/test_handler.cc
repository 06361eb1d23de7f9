// The emulator's request handler called directly: addressing, listings through XML, ranges,
// conditions, put/copy/delete, multipart, errors, auth, QPS limit, faults and counters.
#include <doctest/doctest.h>

#include <pugixml.hpp>

#include "http/oss/crc64.hh"
#include "http/oss/digest.hh"
#include "http/oss/sign.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"
#include "http/oss/xml.hh"
#include "tools/emu/content.hh"
#include "tools/emu/handler.hh"

using namespace ossuring;
using namespace ossuring::emu;

namespace {

constexpr int64_t fixed_now = 1702743657;  // 2023-12-16T16:20:57Z

struct fixture {
  std::shared_ptr<store> mem = make_memory_store();
  std::shared_ptr<store> synth = make_synthetic_store("imagenet:5:40:1000+big:3MiB").value();
  std::unique_ptr<handler> h;

  explicit fixture(auth_config auth = {.keys = {}, .anonymous = true}, fault_config faults = {},
                   uint64_t copy_limit = 1ULL << 30) {
    handler_config cfg;
    cfg.copy_limit = copy_limit;
    cfg.buckets = {{"mem", mem}, {"synth", synth}};
    cfg.auth = std::move(auth);
    cfg.faults = std::move(faults);
    h = std::make_unique<handler>(std::move(cfg));
    h->set_wall_clock([] { return fixed_now; });
  }

  response send(std::string method, std::string target, std::string bucket = "mem",
                std::vector<std::pair<std::string, std::string>> headers = {},
                std::string body = {}) {
    http::request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.authority = bucket + ".oss-cn-hangzhou.aliyuncs.com";
    for (auto& [k, v] : headers) {
      req.headers.add(k, v);
    }
    req.body = std::move(body);
    return h->handle(req);
  }
};

std::string error_code(const response& r) {
  pugi::xml_document doc;
  doc.load_string(r.body.c_str());
  return doc.child("Error").child_value("Code");
}

// Follows NextContinuationToken until the listing ends; returns keys and prefixes in order.
std::vector<std::string> list_all_v2(fixture& f, const std::string& bucket, std::string query) {
  std::vector<std::string> out;
  std::string token;
  for (int guard = 0; guard < 1000; ++guard) {
    std::string target = "/?list-type=2&encoding-type=url&" + query;
    if (!token.empty()) {
      target += "&continuation-token=" + oss::uri_encode(token);
    }
    response r = f.send("GET", target, bucket);
    REQUIRE(r.status == 200);
    auto page = oss::parse_list_objects_v2(r.body);
    REQUIRE(page);
    for (const auto& o : page->objects) {
      out.emplace_back(o.key);
    }
    for (const auto& p : page->common_prefixes) {
      out.push_back(p);
    }
    if (!page->truncated) {
      return out;
    }
    token = page->next_continuation_token;
  }
  FAIL("no end");
  return out;
}

}  // namespace

TEST_CASE("every response carries a unique request id, Date and Server") {
  fixture f;
  response a = f.send("GET", "/?list-type=2");
  response b = f.send("GET", "/missing");
  CHECK(a.headers.get("x-oss-request-id").size() == 24);
  CHECK(a.headers.get("x-oss-request-id") != b.headers.get("x-oss-request-id"));
  CHECK(a.headers.get("Server") == "ossemu");
  CHECK(a.headers.get("Date") == oss::format_rfc1123(fixed_now));
}

TEST_CASE("virtual-hosted and path-style addressing reach the same object") {
  fixture f;
  CHECK(f.send("PUT", "/dir/a%20b%2Bc", "mem", {}, "hello").status == 200);
  CHECK(f.send("GET", "/dir/a%20b%2Bc").body_text() == "hello");
  http::request req;
  req.method = "GET";
  req.target = "/mem/dir/a%20b%2Bc";
  req.authority = "127.0.0.1:8080";
  response r = f.h->handle(req);
  CHECK(r.status == 200);
  CHECK(r.body_text() == "hello");
  req.target = "/nosuchbucket/x";
  r = f.h->handle(req);
  CHECK(r.status == 404);
  CHECK(error_code(r) == "NoSuchBucket");
}

TEST_CASE("ListObjectsV2 pages a synthetic bucket with delimiter, prefix and url encoding") {
  fixture f;
  auto dirs = list_all_v2(f, "synth", "prefix=train%2F&delimiter=%2F&max-keys=2");
  REQUIRE(dirs.size() == 5);
  CHECK(dirs[0] == "train/n01440764/");
  auto files = list_all_v2(f, "synth", "prefix=" + oss::uri_encode(dirs[2]) + "&max-keys=7");
  CHECK(files.size() == 40);
  auto everything = list_all_v2(f, "synth", "max-keys=33");
  CHECK(everything.size() == 201);
  CHECK(everything.back() == "train/n01445280/n01445280_10533.JPEG");
  CHECK(std::is_sorted(everything.begin(), everything.end()));
}

TEST_CASE("ListObjectsV2 reports KeyCount, StartAfter and IsTruncated") {
  fixture f;
  for (std::string k : {"a/1", "a/2", "b", "c/x/y", "d", "e"}) {
    f.send("PUT", "/" + k, "mem", {}, "x");
  }
  response r = f.send("GET", "/?list-type=2&delimiter=/&max-keys=2&start-after=a/1");
  pugi::xml_document doc;
  REQUIRE(doc.load_string(r.body.c_str()));
  auto root = doc.child("ListBucketResult");
  // a/ sorts before the start-after key: an earlier page returned it, so it is not repeated.
  CHECK(std::string(root.child_value("KeyCount")) == "2");  // b, c/
  CHECK(std::string(root.child_value("IsTruncated")) == "true");
  CHECK(std::string(root.child_value("StartAfter")) == "a/1");
  CHECK(std::string(root.child("Contents").child_value("Key")) == "b");
  CHECK(std::string(root.child("CommonPrefixes").child_value("Prefix")) == "c/");
  CHECK(f.send("GET", "/?list-type=2&max-keys=1001").status == 400);
}

TEST_CASE("ListObjects V1 uses Marker and NextMarker") {
  fixture f;
  for (std::string k : {"k1", "k2", "k3"}) {
    f.send("PUT", "/" + k, "mem", {}, "x");
  }
  response r = f.send("GET", "/?max-keys=2&encoding-type=url");
  auto page = oss::parse_list_objects_v1(r.body);
  REQUIRE(page);
  CHECK(page->objects.size() == 2);
  CHECK(page->truncated);
  r = f.send("GET", "/?max-keys=2&marker=" + page->next_continuation_token);
  page = oss::parse_list_objects_v1(r.body);
  REQUIRE(page);
  REQUIRE(page->objects.size() == 1);
  CHECK(page->objects[0].key == "k3");
  CHECK_FALSE(page->truncated);
  CHECK(f.h->stats().requests(api::list_objects) == 2);
}

TEST_CASE("odd keys survive url-encoded listings") {
  fixture f;
  std::vector<std::string> keys = {
      "sp ace", "plus+sign", "per%cent", "\xE6\x97\xA5/\xC3\xA9", "amp&lt<", std::string(1023, 'k'),
      "dir/"};
  for (const auto& k : keys) {
    CHECK(f.send("PUT", "/" + oss::uri_encode_path(k), "mem", {}, "v").status == 200);
  }
  auto listed = list_all_v2(f, "mem", "max-keys=2");
  std::sort(keys.begin(), keys.end());
  CHECK(listed == keys);
  CHECK(f.send("PUT", "/" + std::string(1024, 'k'), "mem", {}, "v").status == 400);
}

TEST_CASE("GetObject serves synthetic bytes whose CRC matches the header") {
  fixture f;
  response r = f.send("GET", "/big.bin", "synth");
  REQUIRE(r.status == 200);
  REQUIRE(r.stream);
  CHECK(r.headers.get("Content-Length") == std::to_string(3 << 20));
  std::string body = r.body_text();
  CHECK(body == content_bytes("big.bin", 3 << 20, 0, 3 << 20));
  CHECK(r.headers.get("x-oss-hash-crc64ecma") == std::to_string(oss::crc64(body)));
  response head = f.send("HEAD", "/big.bin", "synth");
  CHECK(head.body_size() == 0);
  CHECK(head.headers.get("Content-Length") == std::to_string(3 << 20));
  CHECK(head.headers.get("ETag") == r.headers.get("ETag"));
}

TEST_CASE("a valid range answers 206 with Content-Range") {
  fixture f;
  response r = f.send("GET", "/big.bin", "synth", {{"Range", "bytes=100-199"}});
  CHECK(r.status == 206);
  CHECK(r.headers.get("Content-Range") == "bytes 100-199/" + std::to_string(3 << 20));
  CHECK(r.body_text() == content_bytes("big.bin", 3 << 20, 100, 100));
  r = f.send("GET", "/big.bin", "synth", {{"Range", "bytes=-10"}});
  CHECK(r.status == 206);
  CHECK(r.body_size() == 10);
}

TEST_CASE("an invalid range returns the whole object unless range behaviour is standard") {
  fixture f;
  f.send("PUT", "/obj", "mem", {}, "0123456789");
  response r = f.send("GET", "/obj", "mem", {{"Range", "bytes=50-60"}});
  CHECK(r.status == 200);
  CHECK(r.body_text() == "0123456789");
  r = f.send("GET", "/obj", "mem", {{"Range", "bytes=5-2"}});
  CHECK(r.status == 200);
  r = f.send("GET", "/obj", "mem",
             {{"Range", "bytes=50-60"}, {"x-oss-range-behavior", "standard"}});
  CHECK(r.status == 416);
  CHECK(error_code(r) == "InvalidRange");
  r = f.send("GET", "/obj", "mem", {{"Range", "bytes=8-60"}, {"x-oss-range-behavior", "standard"}});
  CHECK(r.status == 206);
  CHECK(r.body_text() == "89");
}

TEST_CASE("conditional GETs answer 412 and 304") {
  fixture f;
  response put = f.send("PUT", "/c", "mem", {}, "abc");
  std::string etag(put.headers.get("ETag"));
  CHECK(http::iequals(etag, "\"" + oss::hex_lower(oss::md5("abc")) + "\""));
  CHECK(f.send("GET", "/c", "mem", {{"If-Match", etag}}).status == 200);
  CHECK(f.send("GET", "/c", "mem", {{"If-Match", "\"nope\""}}).status == 412);
  CHECK(f.send("GET", "/c", "mem", {{"If-None-Match", etag}}).status == 304);
  CHECK(f.send("GET", "/c", "mem", {{"If-None-Match", "\"nope\""}}).status == 200);
}

TEST_CASE("HEAD errors have no body and carry the XML in x-oss-err") {
  fixture f;
  response r = f.send("HEAD", "/missing");
  CHECK(r.status == 404);
  CHECK(r.body_size() == 0);
  CHECK_FALSE(r.headers.get("x-oss-ec").empty());
  auto info = oss::parse_error_header(r.headers.get("x-oss-err"));
  REQUIRE(info);
  CHECK(info->code == "NoSuchKey");
  CHECK(info->request_id == r.headers.get("x-oss-request-id"));
}

TEST_CASE("GetObjectMeta returns the light header set") {
  fixture f;
  f.send("PUT", "/m", "mem", {}, "12345");
  response r = f.send("HEAD", "/m?objectMeta");
  CHECK(r.status == 200);
  CHECK(r.headers.get("Content-Length") == "5");
  CHECK(r.headers.get("x-oss-hash-crc64ecma") == std::to_string(oss::crc64("12345")));
  CHECK(r.op == api::get_object_meta);
  CHECK(f.h->stats().requests(api::get_object_meta) == 1);
}

TEST_CASE("PutObject keeps user metadata and checks Content-MD5") {
  fixture f;
  response r = f.send("PUT", "/meta", "mem",
                      {{"x-oss-meta-Author", "alice"}, {"Content-Type", "text/plain"}}, "x");
  CHECK(r.status == 200);
  response h = f.send("HEAD", "/meta");
  CHECK(h.headers.get("x-oss-meta-author") == "alice");
  CHECK(h.headers.get("Content-Type") == "text/plain");
  r = f.send("PUT", "/bad", "mem", {{"Content-MD5", oss::base64_encode(oss::md5("other"))}}, "x");
  CHECK(r.status == 400);
  CHECK(error_code(r) == "InvalidDigest");
}

TEST_CASE("CopyObject copies across buckets; DeleteObject answers 204 even when missing") {
  fixture f;
  std::string key = "train/n01440764/n01440764_10026.JPEG";
  response r = f.send("PUT", "/copy%20dst", "mem",
                      {{"x-oss-copy-source", "/synth/" + oss::uri_encode(key)}});
  CHECK(r.status == 200);
  auto meta = f.synth->head(key);
  REQUIRE(meta);
  CHECK(f.send("GET", "/copy%20dst").body_text() ==
        content_bytes(key, meta->entry.size, 0, meta->entry.size));
  CHECK(f.send("PUT", "/x", "mem", {{"x-oss-copy-source", "/synth/nope"}}).status == 404);
  CHECK(f.send("DELETE", "/copy%20dst").status == 204);
  CHECK(f.send("DELETE", "/copy%20dst").status == 204);
  CHECK(f.send("GET", "/copy%20dst").status == 404);
}

TEST_CASE("UploadPartCopy copies byte ranges into parts; CopyObject refuses above the limit") {
  fixture f({.keys = {}, .anonymous = true}, {}, 1 << 20);
  auto meta = f.synth->head("big.bin");
  REQUIRE(meta);
  REQUIRE(meta->entry.size == 3 << 20);
  const std::string source = "/synth/big.bin";
  response refused = f.send("PUT", "/whole", "mem", {{"x-oss-copy-source", source}});
  CHECK(refused.status == 400);
  CHECK(error_code(refused) == "InvalidArgument");

  response init = f.send("POST", "/copy%20of%20big?uploads");
  pugi::xml_document doc;
  doc.load_string(init.body.c_str());
  std::string id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  REQUIRE_FALSE(id.empty());
  const std::string etag = "\"" + meta->entry.etag + "\"";
  std::string path = "/copy%20of%20big";
  auto copy = [&](int n, std::string range, std::string if_match) {
    std::vector<std::pair<std::string, std::string>> h = {{"x-oss-copy-source", source}};
    if (!range.empty()) {
      h.emplace_back("x-oss-copy-source-range", range);
    }
    if (!if_match.empty()) {
      h.emplace_back("x-oss-copy-source-if-match", if_match);
    }
    return f.send("PUT", path + "?partNumber=" + std::to_string(n) + "&uploadId=" + id, "mem", h);
  };
  response p1 = copy(1, "bytes=0-1048575", etag);
  REQUIRE(p1.status == 200);
  auto e1 = oss::parse_copy_part_result(p1.body);
  REQUIRE(e1);
  response p2 = copy(2, "bytes=1048576-3145727", etag);
  REQUIRE(p2.status == 200);
  auto e2 = oss::parse_copy_part_result(p2.body);
  REQUIRE(e2);
  CHECK(error_code(copy(3, "bytes=3145727-3145728", "")) == "InvalidArgument");  // past the end
  CHECK(error_code(copy(3, "bytes=5-4", "")) == "InvalidArgument");
  CHECK(error_code(copy(3, "bytes=0-", "")) == "InvalidArgument");
  CHECK(copy(3, "bytes=0-9", "\"0123\"").status == 412);
  response done = f.send("POST", "/copy%20of%20big?uploadId=" + id, "mem", {},
                         oss::build_complete_multipart({{1, *e1}, {2, *e2}}));
  REQUIRE(done.status == 200);
  CHECK(f.send("GET", "/copy%20of%20big").body_text() ==
        content_bytes("big.bin", 3 << 20, 0, 3 << 20));
  CHECK(f.h->stats().requests(api::upload_part_copy) == 6);
  CHECK(f.h->stats().requests(api::upload_part) == 0);

  // Without a range, the whole source is the part.
  response init2 = f.send("POST", "/small?uploads");
  doc.load_string(init2.body.c_str());
  id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  path = "/small";
  response whole = copy(1, "", "");
  REQUIRE(whole.status == 200);
  auto w = oss::parse_copy_part_result(whole.body);
  REQUIRE(w);
  REQUIRE(
      f.send("POST", "/small?uploadId=" + id, "mem", {}, oss::build_complete_multipart({{1, *w}}))
          .status == 200);
  CHECK(f.send("GET", "/small").body_text().size() == 3 << 20);
}

TEST_CASE("multipart upload round trip with OSS validation") {
  fixture f;
  response init = f.send("POST", "/mp?uploads");
  REQUIRE(init.status == 200);
  pugi::xml_document doc;
  doc.load_string(init.body.c_str());
  std::string id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  REQUIRE_FALSE(id.empty());
  std::string p1(100 * 1024, 'a');
  std::string p2 = "tail";
  std::string small(10, 's');
  auto part = [&](int n, const std::string& data) {
    response r =
        f.send("PUT", "/mp?partNumber=" + std::to_string(n) + "&uploadId=" + id, "mem", {}, data);
    REQUIRE(r.status == 200);
    return std::string(oss::strip_etag_quotes(r.headers.get("ETag")));
  };
  std::string e1 = part(1, p1);
  std::string e2 = part(2, p2);
  std::string e3 = part(3, small);
  auto complete = [&](std::vector<oss::part_etag> parts) {
    return f.send("POST", "/mp?uploadId=" + id, "mem", {}, oss::build_complete_multipart(parts));
  };
  CHECK(error_code(complete({{2, e2}, {1, e1}})) == "InvalidPartOrder");
  CHECK(error_code(complete({{1, e1}, {2, "0000"}})) == "InvalidPart");
  CHECK(error_code(complete({{3, e3}, {4, e2}})) == "InvalidPart");
  part(4, p2);
  CHECK(error_code(complete({{3, e3}, {4, e2}})) == "EntityTooSmall");
  response done = complete({{1, e1}, {2, e2}});
  REQUIRE(done.status == 200);
  response get = f.send("GET", "/mp");
  CHECK(get.body_text() == p1 + p2);
  CHECK(get.headers.get("x-oss-object-type") == "Multipart");
  CHECK(get.headers.get("ETag").ends_with("-2\""));
  CHECK(get.headers.get("x-oss-hash-crc64ecma") == std::to_string(oss::crc64(p1 + p2)));
  CHECK(f.send("POST", "/mp?uploadId=" + id, "mem", {}, "").status == 404);

  response init2 = f.send("POST", "/mp2?uploads");
  doc.load_string(init2.body.c_str());
  std::string id2 = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  CHECK(f.send("DELETE", "/mp2?uploadId=" + id2).status == 204);
  CHECK(f.send("DELETE", "/mp2?uploadId=" + id2).status == 404);
  CHECK(f.h->stats().requests(api::upload_part) == 4);
  CHECK(f.h->stats().requests(api::complete_multipart_upload) == 6);
}

TEST_CASE("counters count requests per API and render JSON; admin reset clears them") {
  fixture f;
  f.send("PUT", "/a", "mem", {}, "12");
  f.send("GET", "/a");
  f.send("GET", "/a");
  f.send("HEAD", "/a");
  CHECK(f.h->stats().requests(api::get_object) == 2);
  CHECK(f.h->stats().requests(api::put_object) == 1);
  CHECK(f.h->stats().requests(api::head_object) == 1);
  http::request req;
  req.method = "GET";
  req.target = "/_admin/stats";
  response stats = f.h->handle(req, true);
  CHECK(stats.body.find("\"GetObject\":2") != std::string::npos);
  CHECK(stats.body.find("\"PutObject\":1") != std::string::npos);
  req.method = "POST";
  req.target = "/_admin/reset";
  f.h->handle(req, true);
  CHECK(f.h->stats().requests(api::get_object) == 0);
}

TEST_CASE("DeleteMultipleObjects removes every listed key") {
  fixture f;
  for (std::string k : {"x1", "x 2", "x3"}) {
    f.send("PUT", "/" + oss::uri_encode_path(k), "mem", {}, "v");
  }
  response r = f.send("POST", "/?delete&encoding-type=url", "mem", {},
                      "<Delete><Quiet>false</Quiet><Object><Key>x1</Key></Object>"
                      "<Object><Key>x%202</Key></Object></Delete>");
  CHECK(r.status == 200);
  CHECK(r.body.find("<Deleted><Key>x%202</Key></Deleted>") != std::string::npos);
  CHECK(list_all_v2(f, "mem", "") == std::vector<std::string>{"x3"});
  CHECK(f.h->stats().requests(api::delete_multiple_objects) == 1);
}

TEST_CASE("S3 tools may re-create an existing bucket; unknown buckets stay unknown") {
  fixture f;
  CHECK(f.send("PUT", "/", "mem").status == 200);
  http::request req;
  req.method = "PUT";
  req.target = "/other";
  req.authority = "127.0.0.1:8080";
  CHECK(f.h->handle(req).status == 404);
  CHECK(f.h->stats().requests(api::put_bucket) == 2);
}
