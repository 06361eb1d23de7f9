// oss_client operations end to end against the emulator (in-process loopback, no sockets):
// listings, odd keys, ranged and whole GETs, uploads, copy, delete and signing.
#include <doctest/doctest.h>

#include <set>

#include "core/metrics.hh"
#include "http/oss/crc64.hh"
#include "tests/oss/emu_fixture.hh"
#include "tools/emu/content.hh"

using namespace ossuring;
using namespace ossuring::test;

namespace {

std::vector<oss::list_page> list_all(oss::oss_client& c, oss::list_request req, bool v1 = false) {
  std::vector<oss::list_page> pages;
  for (;;) {
    result<oss::list_page> p = sync_wait(v1 ? c.list_objects_v1(req) : c.list_objects_v2(req));
    REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.err().describe()));
    pages.push_back(*p);
    if (!p->truncated) {
      return pages;
    }
    req.continuation_token = p->next_continuation_token;
    REQUIRE(pages.size() < 100);
  }
}

std::vector<std::string> keys_of(const std::vector<oss::list_page>& pages) {
  std::vector<std::string> keys;
  for (const auto& p : pages) {
    for (const auto& o : p.objects) {
      keys.emplace_back(o.key);
    }
  }
  return keys;
}

}  // namespace

TEST_CASE("a recursive listing of 2,500 objects takes three pages and returns each key once") {
  emu_fixture f;
  auto c = f.client("syn");
  auto pages = list_all(*c, {.prefix = "train/"});
  CHECK(pages.size() == 3);
  CHECK(f.count(emu::api::list_objects_v2) == 3);
  auto keys = keys_of(pages);
  CHECK(keys.size() == 2500);
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 2500);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(pages[0].objects[0].size > 0);
  CHECK(pages[0].objects[0].mtime_sec == 1700000000);
  CHECK(!pages[0].objects[0].etag.empty());
  CHECK(!pages[0].request_id.empty());
  // Every request asked for url encoding and full pages, and for its page in order over HTTP/2.
  for (const http::request& r : f.http.log) {
    CHECK(r.target.find("encoding-type=url") != std::string::npos);
    CHECK(r.target.find("max-keys=1000") != std::string::npos);
    CHECK(r.in_order);
  }
}

TEST_CASE("a delimited listing groups directories and paginates a 2,500-entry level") {
  emu_fixture f;
  SUBCASE("directories become common prefixes") {
    auto c = f.client("syn");
    auto pages = list_all(*c, {.prefix = "train/", .delimiter = "/"});
    REQUIRE(pages.size() == 1);
    CHECK(pages[0].objects.empty());
    CHECK(pages[0].common_prefixes.size() == 25);
    CHECK(pages[0].common_prefixes[0].starts_with("train/n"));
    CHECK(pages[0].common_prefixes[0].ends_with("/"));
  }
  SUBCASE("one flat level of 2,500 objects, V2") {
    auto c = f.client("flat");
    auto keys = keys_of(list_all(*c, {.delimiter = "/"}));
    CHECK(keys.size() == 2500);
    CHECK(f.count(emu::api::list_objects_v2) == 3);
  }
  SUBCASE("one flat level of 2,500 objects, V1 with markers") {
    auto c = f.client("flat");
    auto keys = keys_of(list_all(*c, {.delimiter = "/"}, true));
    CHECK(keys.size() == 2500);
    CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 2500);
    CHECK(f.count(emu::api::list_objects) == 3);
  }
}

TEST_CASE("odd keys round trip through put, list, head and get") {
  emu_fixture f;
  auto c = f.client("rw");
  std::vector<std::string> keys = {
      "dir/with space.txt", "plus+sign",   "percent%25and%",       "unicode/日本語/ファイル",
      "q?x=1&y=2#frag",     "tilde~star*", std::string(1023, 'k'),
  };
  keys.back()[10] = '/';
  for (const std::string& k : keys) {
    std::string body = "content of " + k.substr(0, 40);
    auto put = sync_wait(c->put_object(k, bytes_of(body)));
    REQUIRE_MESSAGE(put.ok(), (put.ok() ? "" : put.err().describe()));
    CHECK(put->crc64 == oss::crc64(body));
    auto head = sync_wait(c->head_object(k));
    REQUIRE(head.ok());
    CHECK(head->size == body.size());
    CHECK(head->etag == put->etag);
    auto got = read_range(*c, k, 0, std::nullopt, 4096);
    REQUIRE_MESSAGE(got.r.ok(), (got.r.ok() ? "" : got.r.err().describe()));
    CHECK(got.data == body);
  }
  auto listed = keys_of(list_all(*c, {}));
  std::sort(keys.begin(), keys.end());
  CHECK(listed == keys);
}

TEST_CASE("ranged GETs return exactly the emulator's bytes") {
  emu_fixture f;
  auto c = f.client("big");
  auto head = sync_wait(c->get_object_meta("blob.bin"));
  REQUIRE(head.ok());
  const uint64_t size = head->size;
  REQUIRE(size == 3u << 20);
  CHECK(head->crc64 == emu::synthetic_crc64("blob.bin", size));
  struct span_case {
    uint64_t offset;
    uint64_t length;
  };
  for (span_case sc : {span_case{0, 1}, span_case{1, 4095}, span_case{123457, 1 << 20},
                       span_case{size - 10, 10}, span_case{size - 100, 1000}}) {
    auto got = read_range(*c, "blob.bin", sc.offset, sc.length, sc.length);
    REQUIRE_MESSAGE(got.r.ok(), (got.r.ok() ? "" : got.r.err().describe()));
    uint64_t expect = std::min(sc.length, size - sc.offset);
    CHECK(got.r->bytes == expect);
    CHECK(got.r->object_size == size);
    CHECK(got.data == emu::content_bytes("blob.bin", size, sc.offset, expect));
  }
  const http::request& last = f.http.log.back();
  CHECK_FALSE(last.in_order);  // GETs interleave: in order, small ones would wait behind large
  CHECK(last.headers.get("x-oss-range-behavior") == "standard");
  CHECK(last.headers.get("range") ==
        "bytes=" + std::to_string(size - 100) + "-" + std::to_string(size + 899));
}

TEST_CASE("a whole-object GET checks the CRC-64 and fails on a mismatch") {
  emu_fixture f;
  auto c = f.client("big");
  auto good = read_range(*c, "blob.bin", 0, std::nullopt, 4u << 20);
  REQUIRE(good.r.ok());
  CHECK(good.r->crc64 == emu::synthetic_crc64("blob.bin", 3u << 20));
  CHECK(good.data == emu::content_bytes("blob.bin", 3u << 20, 0, 3u << 20));

  f.http.tamper = [](emu::response& r) { r.headers.set("x-oss-hash-crc64ecma", "12345"); };
  auto bad = read_range(*c, "blob.bin", 0, std::nullopt, 4u << 20);
  REQUIRE(!bad.r.ok());
  CHECK(bad.r.err().code == EIO);
  CHECK(bad.r.err().message.find("oss://big/blob.bin") != std::string::npos);
  CHECK(bad.r.err().message.find("CRC-64") != std::string::npos);
  CHECK(!bad.r.err().request_id.empty());
}

TEST_CASE("a whole-object GET into a buffer smaller than the object fails") {
  emu_fixture f;
  auto c = f.client("big");
  auto r = read_range(*c, "blob.bin", 0, std::nullopt, 1 << 20);
  REQUIRE(!r.r.ok());
  CHECK(r.r.err().code == EIO);
}

TEST_CASE("answers that do not prove the asked range are errors, never bytes") {
  emu_fixture f;
  auto c = f.client("big");
  SUBCASE("200 to a ranged GET") {
    f.http.tamper = [](emu::response& r) {
      r.status = 200;
      r.headers.remove("content-range");
    };
  }
  SUBCASE("Content-Range of another range") {
    f.http.tamper = [](emu::response& r) { r.headers.set("Content-Range", "bytes 1-100/3145728"); };
  }
  SUBCASE("more bytes than asked") {
    f.http.tamper = [](emu::response& r) {
      r.stream = emu::make_string_source(std::string(200, 'x'));
      r.headers.set("Content-Length", "200");
    };
  }
  auto got = read_range(*c, "blob.bin", 0, 100, 100);
  REQUIRE(!got.r.ok());
  CHECK(got.r.err().code == EIO);
  CHECK(got.r.err().message.find("blob.bin") != std::string::npos);
}

TEST_CASE("a range starting past the end is InvalidRange (416, EIO: the daemon chose the range)") {
  emu_fixture f;
  auto c = f.client("big");
  auto got = read_range(*c, "blob.bin", 3u << 20, 10, 10);
  REQUIRE(!got.r.ok());
  CHECK(got.r.err().code == EIO);
  CHECK(got.r.err().http_status == 416);
  CHECK(got.r.err().oss_code == "InvalidRange");
  CHECK(f.count(emu::api::get_object) == 1);  // not retried
}

TEST_CASE("a ranged read of an empty object returns no bytes") {
  emu_fixture f;
  auto c = f.client("rw");
  REQUIRE(sync_wait(c->put_object("empty", {})).ok());
  auto got = read_range(*c, "empty", 0, 4096, 4096);
  REQUIRE_MESSAGE(got.r.ok(), (got.r.ok() ? "" : got.r.err().describe()));
  CHECK(got.r->bytes == 0);
  CHECK(got.r->object_size == 0);
}

TEST_CASE("If-Match of a replaced object fails with ESTALE") {
  emu_fixture f;
  auto c = f.client("rw");
  auto v1 = sync_wait(c->put_object("doc", bytes_of("version one")));
  REQUIRE(v1.ok());
  auto ok = read_range(*c, "doc", 0, 7, 7, v1->etag);
  REQUIRE(ok.r.ok());
  CHECK(ok.data == "version");
  CHECK(ok.r->etag == v1->etag);
  REQUIRE(sync_wait(c->put_object("doc", bytes_of("version two!"))).ok());
  auto stale = read_range(*c, "doc", 0, 7, 7, v1->etag);
  REQUIRE(!stale.r.ok());
  CHECK(stale.r.err().code == ESTALE);
  CHECK(stale.r.err().http_status == 412);
  CHECK(!stale.r.err().request_id.empty());
}

TEST_CASE("a missing key is ENOENT from GET and from HEAD (x-oss-err header)") {
  emu_fixture f;
  auto c = f.client("rw");
  auto got = read_range(*c, "nope", 0, std::nullopt, 16);
  REQUIRE(!got.r.ok());
  CHECK(got.r.err().code == ENOENT);
  CHECK(got.r.err().oss_code == "NoSuchKey");
  auto head = sync_wait(c->head_object("nope/deeper"));
  REQUIRE(!head.ok());
  CHECK(head.err().code == ENOENT);
  CHECK(head.err().oss_code == "NoSuchKey");
  CHECK(!head.err().request_id.empty());
  CHECK(head.err().message.find("HeadObject oss://rw/nope/deeper") != std::string::npos);
}

TEST_CASE("a three-part multipart upload assembles the object") {
  emu_fixture f;
  auto c = f.client("rw");
  std::string p1(100 * 1024, 'a');
  std::string p2(100 * 1024, 'b');
  std::string p3 = "tail";
  auto id = sync_wait(c->initiate_multipart("mp/object"));
  REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.err().describe()));
  std::vector<oss::part_etag> parts;
  unsigned n = 1;
  for (const std::string* p : {&p1, &p2, &p3}) {
    auto part = sync_wait(c->upload_part("mp/object", *id, n++, bytes_of(*p)));
    REQUIRE_MESSAGE(part.ok(), (part.ok() ? "" : part.err().describe()));
    parts.push_back(*part);
  }
  auto done = sync_wait(c->complete_multipart("mp/object", *id, parts));
  REQUIRE_MESSAGE(done.ok(), (done.ok() ? "" : done.err().describe()));
  CHECK(!done->etag.empty());
  auto got = read_range(*c, "mp/object", 0, std::nullopt, 1 << 20);
  REQUIRE(got.r.ok());
  CHECK(got.data == p1 + p2 + p3);
  auto head = sync_wait(c->head_object("mp/object"));
  REQUIRE(head.ok());
  CHECK(head->object_type == "Multipart");

  auto id2 = sync_wait(c->initiate_multipart("mp/aborted"));
  REQUIRE(id2.ok());
  CHECK(sync_wait(c->abort_multipart("mp/aborted", *id2)).ok());
  auto gone = sync_wait(c->upload_part("mp/aborted", *id2, 1, bytes_of("x")));
  REQUIRE(!gone.ok());
  CHECK(gone.err().code == ENOENT);  // NoSuchUpload
}

TEST_CASE("copy duplicates an object and delete removes it") {
  emu_fixture f;
  auto c = f.client("rw");
  REQUIRE(sync_wait(c->put_object("src dir/a+b", bytes_of("payload"))).ok());
  auto copied = sync_wait(c->copy_object("src dir/a+b", "dst/copy"));
  REQUIRE_MESSAGE(copied.ok(), (copied.ok() ? "" : copied.err().describe()));
  CHECK(!copied->etag.empty());
  auto got = read_range(*c, "dst/copy", 0, std::nullopt, 64);
  REQUIRE(got.r.ok());
  CHECK(got.data == "payload");
  CHECK(sync_wait(c->delete_object("dst/copy")).ok());
  CHECK(sync_wait(c->head_object("dst/copy")).err().code == ENOENT);
  CHECK(sync_wait(c->delete_object("dst/copy")).ok());  // deleting again is fine
  auto missing = sync_wait(c->copy_object("no such", "dst/x"));
  REQUIRE(!missing.ok());
  CHECK(missing.err().code == ENOENT);
}

TEST_CASE("UploadPartCopy copies ranges of an odd key, signed, and honours the source ETag") {
  emu_fixture f;
  auto c = f.client("rw");
  std::string data(300 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>(i * 131 + i / 977);
  }
  const std::string src = "src dir/a+b %25 \xe6\x96\x87.bin";
  auto put = sync_wait(c->put_object(src, bytes_of(data)));
  REQUIRE(put.ok());
  auto id = sync_wait(c->initiate_multipart("dst/big copy"));
  REQUIRE(id.ok());
  auto p1 = sync_wait(c->upload_part_copy("dst/big copy", *id, 1, src, put->etag, 0, 204799));
  REQUIRE_MESSAGE(p1.ok(), (p1.ok() ? "" : p1.err().describe()));
  auto p2 = sync_wait(
      c->upload_part_copy("dst/big copy", *id, 2, src, put->etag, 204800, data.size() - 1));
  REQUIRE(p2.ok());
  CHECK(p1->part_number == 1);
  CHECK(!p2->etag.empty());
  auto stale = sync_wait(c->upload_part_copy("dst/big copy", *id, 3, src, "0123", 0, 9));
  REQUIRE(!stale.ok());
  CHECK(stale.err().http_status == 412);
  CHECK(!stale.err().request_id.empty());
  auto done = sync_wait(c->complete_multipart("dst/big copy", *id, {*p1, *p2}));
  REQUIRE(done.ok());
  auto got = read_range(*c, "dst/big copy", 0, std::nullopt, 1 << 20);
  REQUIRE(got.r.ok());
  CHECK(got.data == data);
  auto missing = sync_wait(c->upload_part_copy("dst/x", *id, 1, "no such", "", 0, 0));
  REQUIRE(!missing.ok());
}

TEST_CASE("V1 and V4 signatures are accepted, in virtual-hosted and path style") {
  emu_fixture f;
  for (int version : {1, 4}) {
    for (bool path_style : {false, true}) {
      CAPTURE(version);
      CAPTURE(path_style);
      auto cfg = f.config("rw", version);
      cfg.path_style = path_style;
      auto c = f.client(cfg);
      std::string key = "signed/" + std::to_string(version) + (path_style ? "p" : "v") + " k+";
      REQUIRE(sync_wait(c->put_object(key, bytes_of("x"))).ok());
      CHECK(sync_wait(c->get_object_meta(key)).ok());
      CHECK(read_range(*c, key, 0, 1, 1).r.ok());
      CHECK(sync_wait(c->list_objects_v2({.prefix = "signed/"})).ok());
      std::string_view authz = f.http.log.back().headers.get("authorization");
      CHECK(authz.starts_with(version == 1 ? "OSS " : "OSS4-HMAC-SHA256 "));
      std::string_view host = f.http.log.back().authority;
      CHECK(host ==
            (path_style ? "oss-cn-hangzhou.aliyuncs.com" : "rw.oss-cn-hangzhou.aliyuncs.com"));
    }
  }
}

TEST_CASE("a wrong secret is refused with EACCES and the request id, without retries") {
  emu_fixture f;
  for (int version : {1, 4}) {
    auto c = f.client(f.config("rw", version), "wrong-secret");
    uint64_t before = f.count(emu::api::head_object);
    auto r = sync_wait(c->head_object("any"));
    REQUIRE(!r.ok());
    CHECK(r.err().code == EACCES);
    CHECK(r.err().http_status == 403);
    CHECK(r.err().oss_code == "SignatureDoesNotMatch");
    CHECK(!r.err().request_id.empty());
    CHECK(r.err().describe().find(r.err().request_id) != std::string::npos);
    CHECK(f.count(emu::api::head_object) == before + 1);
    auto g = read_range(*c, "any", 0, std::nullopt, 16);
    REQUIRE(!g.r.ok());
    CHECK(g.r.err().message.find("StringToSign") != std::string::npos);
  }
}

TEST_CASE("per-API stats count requests, body bytes and latencies") {
  emu_fixture f;
  auto c = f.client("big");
  auto find = [&](std::string_view api) {
    for (const oss::api_stats& s : c->stats()) {
      if (s.api == api) {
        return s;
      }
    }
    FAIL("no stats for " << api);
    return oss::api_stats{};
  };
  oss::api_stats before = find("GetObject");
  REQUIRE(read_range(*c, "blob.bin", 0, 5000, 5000).r.ok());
  REQUIRE(read_range(*c, "blob.bin", 10, 7, 7).r.ok());
  oss::api_stats after = find("GetObject");
  CHECK(after.requests == before.requests + 2);
  CHECK(after.bytes_received == before.bytes_received + 5007);
  CHECK(after.latency.count == before.latency.count + 2);
  CHECK(after.errors == before.errors);
  // The registry renders them (the stats document places them so, tools/cli/mount_stats.cc).
  const json_field layout[] = {{"ossuring_oss_requests_total", "oss.{api}.requests"}};
  const std::string json = metrics().render_json(layout);
  CHECK(json.find("\"GetObject\":{\"requests\":" + std::to_string(after.requests) + "}") !=
        std::string::npos);
}
