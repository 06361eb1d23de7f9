// The fake ECS metadata endpoint (plain and hardened) and ossemu's option parsing.
#include <doctest/doctest.h>

#include <simdjson.h>

#include "tools/emu/ecs.hh"
#include "tools/emu/options.hh"

using namespace ossuring;
using namespace ossuring::emu;

namespace {

http::request req(std::string method, std::string target) {
  http::request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.authority = "100.100.100.200";
  return r;
}

result<options> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "ossemu");
  return parse_options(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("the ECS endpoint names the role and serves expiring credentials") {
  ecs_endpoint ecs({.role = "r1", .creds = {"STS.ak", "sk", "tok"}, .ttl_sec = 900});
  ecs.set_wall_clock([] { return 1702743657; });
  response role = ecs.handle(req("GET", "/latest/meta-data/ram/security-credentials/"));
  CHECK(role.status == 200);
  CHECK(role.body == "r1");
  response creds = ecs.handle(req("GET", "/latest/meta-data/ram/security-credentials/r1"));
  REQUIRE(creds.status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(simdjson::padded_string(creds.body));
  CHECK(std::string_view(doc["AccessKeyId"]) == "STS.ak");
  CHECK(std::string_view(doc["SecurityToken"]) == "tok");
  CHECK(std::string_view(doc["Expiration"]) == "2023-12-16T16:35:57Z");
  CHECK(std::string_view(doc["Code"]) == "Success");
  CHECK(ecs.handle(req("GET", "/latest/meta-data/ram/security-credentials/other")).status == 404);
  CHECK(ecs.credential_requests() == 1);
}

TEST_CASE("hardened ECS mode needs a token from PUT /latest/api/token") {
  int64_t now = 1702743657;
  ecs_endpoint ecs({.role = "r1", .creds = {"ak", "sk", "tok"}, .ttl_sec = 900, .hardened = true});
  ecs.set_wall_clock([&] { return now; });
  auto get = req("GET", "/latest/meta-data/ram/security-credentials/r1");
  CHECK(ecs.handle(get).status == 401);
  auto put = req("PUT", "/latest/api/token");
  CHECK(ecs.handle(put).status == 400);
  put.headers.add("X-aliyun-ecs-metadata-token-ttl-seconds", "60");
  response token = ecs.handle(put);
  REQUIRE(token.status == 200);
  get.headers.add("X-aliyun-ecs-metadata-token", token.body);
  CHECK(ecs.handle(get).status == 200);
  now += 61;
  CHECK(ecs.handle(get).status == 401);
}

TEST_CASE("options parse buckets, keys and misbehaviour settings") {
  auto o = parse({"--listen=127.0.0.1:9000", "--bucket", "data=imagenet:10:100", "--bucket",
                  "mem=memory", "--access-key-id", "ak", "--access-key-secret=sk",
                  "--access-key-id=sts", "--access-key-secret=s2", "--sts-token=t", "--latency=5:2",
                  "--ttfb=3", "--bandwidth=10MiB", "--qps-limit=100", "--fault=503:0.01",
                  "--fault=reset=1KiB:0.1@train/*", "--seed=7", "--admin=127.0.0.1:9001"});
  REQUIRE(o);
  CHECK(o->listen == "127.0.0.1:9000");
  REQUIRE(o->buckets.size() == 2);
  CHECK(o->buckets[0].source == "imagenet:10:100");
  REQUIRE(o->keys.size() == 2);
  CHECK(o->keys[1].security_token == "t");
  CHECK(o->faults.latency_ms == 5);
  CHECK(o->faults.jitter_ms == 2);
  CHECK(o->faults.bandwidth == 10 << 20);
  CHECK(o->faults.rules.size() == 2);
  CHECK(o->faults.seed == 7);
  auto cfg = make_handler_config(*o);
  REQUIRE(cfg);
  CHECK(cfg->buckets.size() == 2);
  CHECK(make_ecs_config(*o).creds.access_key_id == "sts");
}

TEST_CASE("bad options are refused with a clear message") {
  CHECK_FALSE(parse({"--bogus"}));
  CHECK_FALSE(parse({"--bucket", "x=memory", "--anonymous"}));  // name too short
  CHECK_FALSE(parse({"--bucket", "good=memory"}));              // no credentials
  CHECK_FALSE(parse({"--bucket", "good=memory", "--access-key-id", "ak"}));
  CHECK_FALSE(parse({"--bucket", "good=memory", "--anonymous", "--listen", "nowhere"}));
  CHECK_FALSE(parse({"--bucket", "good=memory", "--anonymous", "--latency", "fast"}));
  CHECK_FALSE(parse({"--bucket", "good=memory", "--anonymous", "--tls-cert", "c.pem"}));
  CHECK_FALSE(parse({"--anonymous"}));
  auto bad = parse({"--bucket", "good=memory", "--anonymous", "--fault=explode"});
  REQUIRE_FALSE(bad);
  CHECK(bad.err().message.find("explode") != std::string::npos);
  auto o = parse({"--bucket", "good=/definitely/not/here", "--anonymous"});
  REQUIRE(o);
  CHECK_FALSE(make_handler_config(*o));
  CHECK(parse({"--help"}));
}
