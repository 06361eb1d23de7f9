// Cross-check of ossuring's V1/V4 signer against the official Node SDK (ali-oss): runs
// tests/node/gen_sign_cases.js and requires identical Authorization headers on every case.
// Arguments (from meson): <node> <gen_sign_cases.js>; env OSSURING_SIGN_CASES=<file> instead
// reads pre-generated cases. Missing node or node_modules fails the test: it never passes empty.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <simdjson.h>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/oss/sign.hh"

using namespace ossuring;
using namespace ossuring::oss;

namespace {

std::vector<std::string> g_args;

std::string read_cases() {
  std::string cmd;
  if (const char* file = std::getenv("OSSURING_SIGN_CASES"); file != nullptr && *file) {
    cmd = std::string("cat '") + file + "'";
  } else {
    REQUIRE_MESSAGE(g_args.size() >= 2, "usage: test_oss_node_sign <node> <gen_sign_cases.js>");
    cmd = "'" + g_args[0] + "' '" + g_args[1] + "' 200";
  }
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  int rc = ::pclose(p);
  REQUIRE_MESSAGE(rc == 0, "case generator failed (" << cmd
                                                     << "); install the Node test dependencies: "
                                                        "npm ci --prefix tests/node");
  return out;
}

std::string str(simdjson::dom::element e) {
  std::string_view v;
  REQUIRE(e.get(v) == simdjson::SUCCESS);
  return std::string(v);
}

}  // namespace

TEST_CASE("ossuring signs every ali-oss generated case identically") {
  std::string json = read_cases();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(json).get(doc) == simdjson::SUCCESS);
  simdjson::dom::array cases;
  REQUIRE(doc["cases"].get(cases) == simdjson::SUCCESS);
  size_t v1 = 0;
  size_t v4 = 0;
  for (simdjson::dom::element c : cases) {
    int64_t version = 0;
    REQUIRE(c["version"].get(version) == simdjson::SUCCESS);
    int64_t time = 0;
    REQUIRE(c["time"].get(time) == simdjson::SUCCESS);
    std::string method = str(c["method"]);
    std::string bucket = str(c["bucket"]);
    std::string key = str(c["key"]);
    credentials creds{str(c["ak"]), str(c["sk"]), str(c["token"])};

    http::request req;
    req.method = method;
    for (simdjson::dom::element h : c["headers"].get_array()) {
      req.headers.add(str(h.at(0)), str(h.at(1)));
    }
    signing_input in{method, bucket, key, {}, nullptr};
    for (simdjson::dom::element q : c["query"].get_array()) {
      in.query.emplace_back(str(q.at(0)), str(q.at(1)));
    }
    std::string expected = str(c["authorization"]);
    CAPTURE(method);
    CAPTURE(bucket);
    CAPTURE(key);
    CAPTURE(expected);
    if (version == 1) {
      ++v1;
      signing_input view = in;
      view.headers = &req.headers;
      CHECK(v1_string_to_sign(view) == str(c["string_to_sign"]));
      sign_request_v1(req, in, creds, static_cast<time_t>(time));
    } else {
      ++v4;
      std::vector<std::string> additional;
      for (simdjson::dom::element a : c["additional_headers"].get_array()) {
        additional.push_back(str(a));
      }
      signing_input view = in;
      view.headers = &req.headers;
      CHECK(v4_canonical_request(view, additional) == str(c["canonical_request"]));
      sign_request_v4(req, in, creds, str(c["region"]), static_cast<time_t>(time), additional);
    }
    CHECK(req.headers.get("Authorization") == expected);
  }
  MESSAGE("checked " << v1 << " V1 and " << v4 << " V4 cases");
  CHECK(v1 >= 20);
  CHECK(v4 >= 20);
}

int main(int argc, char** argv) {
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("-")) {
      continue;
    }
    g_args.emplace_back(argv[i]);
  }
  return ctx.run();
}
