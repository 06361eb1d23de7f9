// Helpers shared by the socket-client tests: test certificates, the body pattern, options and a
// GET shortcut.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "http/client.hh"
#include "http/tls.hh"

namespace ossuring::http::test_client {

namespace fs = std::filesystem;

struct cert_dirs {
  fs::path root;
  fs::path good;
  fs::path other;
  cert_dirs() {
    const char* script = std::getenv("OSSURING_GEN_TEST_CERTS");
    REQUIRE_MESSAGE(script != nullptr, "OSSURING_GEN_TEST_CERTS is not set (run through meson)");
    char tmpl[] = "/tmp/ossuring-client-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    good = root / "good";
    other = root / "other";
    for (const fs::path& d : {good, other}) {
      std::string cmd = std::string(script) + " '" + d.string() + "'";
      REQUIRE(std::system(cmd.c_str()) == 0);
    }
  }
  ~cert_dirs() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

inline const cert_dirs& certs() {
  static cert_dirs dirs;
  return dirs;
}

inline std::shared_ptr<tls_context> server_tls(std::vector<std::string> alpn) {
  tls_server_config cfg;
  cfg.cert_file = (certs().good / "server.pem").string();
  cfg.key_file = (certs().good / "server.key").string();
  cfg.alpn = std::move(alpn);
  auto ctx = tls_context::server(cfg);
  REQUIRE(ctx.ok());
  return *ctx;
}

inline char pattern(uint64_t i) {
  return static_cast<char>((i * 131 + (i >> 9)) & 0xff);
}

inline bool matches_pattern(std::string_view body, uint64_t expected_size) {
  if (body.size() != expected_size) {
    return false;
  }
  for (uint64_t i = 0; i < body.size(); ++i) {
    if (body[i] != pattern(i)) {
      return false;
    }
  }
  return true;
}

inline uint64_t number_after(std::string_view target, std::string_view prefix) {
  return std::stoull(std::string(target.substr(prefix.size())));
}

inline task<result<response>> get(client& c, std::string target, body_sink sink = {},
                                  abort_source* abort = nullptr) {
  exchange ex;
  ex.req.method = "GET";
  ex.req.target = std::move(target);
  ex.response_body = std::move(sink);
  ex.abort = abort;
  co_return co_await c.send(ex);
}

inline client_options options(std::string mode) {
  client_options o;
  o.http = std::move(mode);
  o.ca_file = (certs().good / "ca.pem").string();
  return o;
}

}  // namespace ossuring::http::test_client
