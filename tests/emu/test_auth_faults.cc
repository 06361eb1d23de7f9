// Signature checking (V1, V4, STS, skew, anonymous), the QPS limit, injected faults, latency
// and the admin fault API, through handler::handle().
#include <doctest/doctest.h>

#include <pugixml.hpp>

#include "http/oss/sign.hh"
#include "http/oss/time.hh"
#include "tools/emu/handler.hh"

using namespace ossuring;
using namespace ossuring::emu;

namespace {

constexpr int64_t fixed_now = 1702743657;

struct fixture {
  std::unique_ptr<handler> h;
  clock_type::time_point steady_now{std::chrono::seconds(1000)};

  explicit fixture(auth_config auth, fault_config faults = {}) {
    auto mem = make_memory_store();
    put_input in;
    in.data = "0123456789abcdefghij";
    (void)mem->put("big.bin", in);
    in.data = "small";
    (void)mem->put("dir/obj", in);
    handler_config cfg;
    cfg.buckets = {{"bkt", mem}};
    cfg.auth = std::move(auth);
    cfg.faults = std::move(faults);
    h = std::make_unique<handler>(std::move(cfg));
    h->set_wall_clock([] { return fixed_now; });
    h->set_steady_clock([this] { return steady_now; });
  }
};

auth_config keys() {
  auth_config a;
  a.keys = {{"ak", "sk", ""}, {"stsak", "stssk", "the-token"}};
  return a;
}

http::request get(std::string key) {
  http::request req;
  req.method = "GET";
  req.target = "/" + key;
  req.authority = "bkt.oss-cn-hangzhou.aliyuncs.com";
  return req;
}

oss::signing_input input_for(std::string_view key) {
  oss::signing_input in;
  in.method = "GET";
  in.bucket = "bkt";
  in.key = key;
  return in;
}

pugi::xml_node error_of(pugi::xml_document& doc, const response& r) {
  doc.load_string(r.body.c_str());
  return doc.child("Error");
}

}  // namespace

TEST_CASE("V1 and V4 signatures from the shared signer are accepted") {
  fixture f(keys());
  http::request a = get("dir/obj");
  oss::sign_request_v1(a, input_for("dir/obj"), {"ak", "sk", ""}, fixed_now);
  CHECK(f.h->handle(a).status == 200);
  http::request b = get("dir/obj");
  oss::sign_request_v4(b, input_for("dir/obj"), {"ak", "sk", ""}, "cn-hangzhou", fixed_now);
  CHECK(f.h->handle(b).status == 200);
}

TEST_CASE("a wrong V1 signature is refused and the server's StringToSign is shown") {
  fixture f(keys());
  http::request a = get("dir/obj");
  oss::sign_request_v1(a, input_for("dir/obj"), {"ak", "wrong", ""}, fixed_now);
  response r = f.h->handle(a);
  CHECK(r.status == 403);
  pugi::xml_document doc;
  auto e = error_of(doc, r);
  CHECK(std::string(e.child_value("Code")) == "SignatureDoesNotMatch");
  oss::signing_input in = input_for("dir/obj");
  in.headers = &a.headers;
  CHECK(std::string(e.child_value("StringToSign")) == oss::v1_string_to_sign(in));
}

TEST_CASE("a wrong V4 signature shows StringToSign and CanonicalRequest") {
  fixture f(keys());
  http::request a = get("dir/obj");
  oss::sign_request_v4(a, input_for("dir/obj"), {"ak", "wrong", ""}, "cn-hangzhou", fixed_now);
  response r = f.h->handle(a);
  CHECK(r.status == 403);
  pugi::xml_document doc;
  auto e = error_of(doc, r);
  CHECK(std::string(e.child_value("Code")) == "SignatureDoesNotMatch");
  CHECK(std::string(e.child_value("StringToSign")).starts_with("OSS4-HMAC-SHA256\n"));
  CHECK(std::string(e.child_value("CanonicalRequest")).starts_with("GET\n/bkt/dir/obj\n"));
}

TEST_CASE("unknown keys, skewed clocks and unsigned requests are refused") {
  fixture f(keys());
  http::request a = get("dir/obj");
  oss::sign_request_v1(a, input_for("dir/obj"), {"nobody", "sk", ""}, fixed_now);
  pugi::xml_document doc;
  CHECK(std::string(error_of(doc, f.h->handle(a)).child_value("Code")) == "InvalidAccessKeyId");
  http::request b = get("dir/obj");
  oss::sign_request_v4(b, input_for("dir/obj"), {"ak", "sk", ""}, "cn-hangzhou",
                       fixed_now + 16 * 60);
  CHECK(std::string(error_of(doc, f.h->handle(b)).child_value("Code")) == "RequestTimeTooSkewed");
  http::request c = get("dir/obj");
  oss::sign_request_v1(c, input_for("dir/obj"), {"ak", "sk", ""}, fixed_now - 14 * 60);
  CHECK(f.h->handle(c).status == 200);
  response unsigned_r = f.h->handle(get("dir/obj"));
  CHECK(unsigned_r.status == 403);
  CHECK(std::string(error_of(doc, unsigned_r).child_value("Code")) == "AccessDenied");
}

TEST_CASE("an STS key needs its security token") {
  fixture f(keys());
  http::request a = get("dir/obj");
  oss::sign_request_v4(a, input_for("dir/obj"), {"stsak", "stssk", "the-token"}, "cn-hangzhou",
                       fixed_now);
  CHECK(f.h->handle(a).status == 200);
  http::request b = get("dir/obj");
  oss::sign_request_v4(b, input_for("dir/obj"), {"stsak", "stssk", "other-token"}, "cn-hangzhou",
                       fixed_now);
  CHECK(f.h->handle(b).status == 403);
  http::request c = get("dir/obj");
  oss::sign_request_v1(c, input_for("dir/obj"), {"stsak", "stssk", ""}, fixed_now);
  CHECK(f.h->handle(c).status == 403);
}

TEST_CASE("anonymous mode accepts unsigned and S3-signed requests") {
  auth_config a = keys();
  a.anonymous = true;
  fixture f(a);
  CHECK(f.h->handle(get("dir/obj")).status == 200);
  http::request s3 = get("dir/obj");
  s3.headers.add("Authorization",
                 "AWS4-HMAC-SHA256 Credential=x/20231216/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host, Signature=00");
  CHECK(f.h->handle(s3).status == 200);
  http::request path_style = get("bkt/dir/obj?list-type=2&fetch-owner=false&x-id=GetObject");
  path_style.authority = "127.0.0.1:9000";
  CHECK(f.h->handle(path_style).status == 200);
}

TEST_CASE("the QPS limit answers 503 TotalQpsLimitExceeded with a delay hint") {
  fault_config fc;
  fc.qps_limit = 5;
  fixture f({.keys = {}, .anonymous = true}, fc);
  for (int i = 0; i < 5; ++i) {
    CHECK(f.h->handle(get("dir/obj")).status == 200);
  }
  response r = f.h->handle(get("dir/obj"));
  CHECK(r.status == 503);
  pugi::xml_document doc;
  CHECK(std::string(error_of(doc, r).child_value("Code")) == "TotalQpsLimitExceeded");
  CHECK(r.headers.get("x-oss-qos-delay-time") == "200");
  f.steady_now += std::chrono::milliseconds(200);
  CHECK(f.h->handle(get("dir/obj")).status == 200);
  CHECK(f.h->stats().faults(fault_kind::qps_limited) == 1);
}

TEST_CASE("injected faults fire by count and key pattern and become driver directives") {
  fault_config fc;
  fc.rules.push_back(parse_fault_rule("503:1#2").value());
  fc.rules.push_back(parse_fault_rule("reset=4@big*").value());
  fixture f({.keys = {}, .anonymous = true}, fc);
  CHECK(f.h->handle(get("dir/obj")).status == 503);
  CHECK(f.h->handle(get("dir/obj")).status == 503);
  response ok = f.h->handle(get("dir/obj"));
  CHECK(ok.status == 200);
  CHECK(ok.fault.kind == fault_kind::none);
  response big = f.h->handle(get("big.bin"));
  CHECK(big.status == 200);
  CHECK(big.fault.kind == fault_kind::reset_after_bytes);
  CHECK(big.fault.bytes == 4);
  CHECK(f.h->stats().faults(fault_kind::http_503) == 2);
  CHECK(f.h->stats().faults(fault_kind::reset_after_bytes) == 1);
}

TEST_CASE("wrong-length and latency settings shape the response") {
  fault_config fc;
  fc.latency_ms = 7;
  fc.ttfb_ms = 3;
  fc.rules.push_back(parse_fault_rule("bad-length=5").value());
  fixture f({.keys = {}, .anonymous = true}, fc);
  response r = f.h->handle(get("big.bin"));
  CHECK(r.headers.get("Content-Length") == "25");
  CHECK(r.body_size() == 20);
  CHECK(r.latency == std::chrono::milliseconds(7));
  CHECK(r.ttfb == std::chrono::milliseconds(3));
}

TEST_CASE("fault decisions are reproducible from the seed") {
  fault_config fc;
  fc.seed = 42;
  fc.rules.push_back(parse_fault_rule("500:0.5").value());
  auto run = [&] {
    fixture f({.keys = {}, .anonymous = true}, fc);
    std::string pattern;
    for (int i = 0; i < 64; ++i) {
      pattern += f.h->handle(get("dir/obj")).status == 500 ? 'x' : '.';
    }
    return pattern;
  };
  std::string first = run();
  CHECK(first == run());
  CHECK(first.find('x') != std::string::npos);
  CHECK(first.find('.') != std::string::npos);
}

TEST_CASE("the admin API reconfigures faults from JSON and query strings") {
  fixture f({.keys = {}, .anonymous = true});
  http::request put;
  put.method = "PUT";
  put.target = "/_admin/faults";
  put.body = R"({"latency_ms": 12, "qps_limit": 100, "faults": ["stall=500:1@dir/*"]})";
  REQUIRE(f.h->handle(put, true).status == 200);
  fault_config cfg = f.h->fault_model().config();
  CHECK(cfg.latency_ms == 12);
  CHECK(cfg.qps_limit == 100);
  REQUIRE(cfg.rules.size() == 1);
  CHECK(cfg.rules[0].kind == fault_kind::stall);
  response r = f.h->handle(get("dir/obj"));
  CHECK(r.fault.kind == fault_kind::stall);
  CHECK(r.fault.stall == std::chrono::milliseconds(500));
  put.target = "/_admin/faults?latency=3:2&clear_faults=1&bandwidth=1MiB";
  put.body.clear();
  REQUIRE(f.h->handle(put, true).status == 200);
  cfg = f.h->fault_model().config();
  CHECK(cfg.latency_ms == 3);
  CHECK(cfg.jitter_ms == 2);
  CHECK(cfg.bandwidth == (1 << 20));
  CHECK(cfg.rules.empty());
  put.target = "/_admin/faults?fault=explode";
  CHECK(f.h->handle(put, true).status == 400);
  CHECK(f.h->fault_model().make_connection_bucket() != nullptr);
}

TEST_CASE("fault rules parse and reject bad specs") {
  auto r = parse_fault_rule("truncate=1KiB:0.25#3@train/*");
  REQUIRE(r);
  CHECK(r->kind == fault_kind::truncate_body);
  CHECK(r->bytes == 1024);
  CHECK(r->rate == 0.25);
  CHECK(r->remaining == 3);
  CHECK(r->pattern == "train/*");
  CHECK_FALSE(parse_fault_rule("boom"));
  CHECK_FALSE(parse_fault_rule("503:2"));
}

TEST_CASE("a token bucket paces to its rate") {
  token_bucket b(1000, 100);
  clock_type::time_point t{std::chrono::seconds(5)};
  CHECK(b.take(100, t) == std::chrono::nanoseconds(0));
  CHECK(b.take(500, t) == std::chrono::milliseconds(500));
  CHECK(b.take(0, t + std::chrono::milliseconds(500)) == std::chrono::nanoseconds(0));
}
