// Tests for TLS sessions over memory BIOs: handshakes, verification, ALPN and resumption.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "http/tls.hh"

using namespace ossuring;
using namespace ossuring::http;
namespace fs = std::filesystem;

namespace {

// Two independent CAs with a localhost server certificate each, made once per run by
// tools/gen-test-certs.sh (path passed by meson in OSSURING_GEN_TEST_CERTS).
struct cert_dirs {
  fs::path good;
  fs::path other;

  cert_dirs() {
    const char* script = std::getenv("OSSURING_GEN_TEST_CERTS");
    REQUIRE_MESSAGE(script != nullptr, "OSSURING_GEN_TEST_CERTS is not set (run through meson)");
    char tmpl[] = "/tmp/ossuring-tls-test-XXXXXX";
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
  fs::path root;
};

const cert_dirs& certs() {
  static cert_dirs dirs;
  return dirs;
}

std::shared_ptr<tls_context> server_context(std::vector<std::string> alpn = {"h2", "http/1.1"}) {
  tls_server_config cfg;
  cfg.cert_file = (certs().good / "server.pem").string();
  cfg.key_file = (certs().good / "server.key").string();
  cfg.alpn = std::move(alpn);
  auto ctx = tls_context::server(cfg);
  REQUIRE_MESSAGE(ctx.ok(), (ctx.ok() ? "" : ctx.err().message));
  return *ctx;
}

std::shared_ptr<tls_context> client_context(fs::path ca, bool verify = true,
                                            std::vector<std::string> alpn = {"h2", "http/1.1"}) {
  tls_client_config cfg;
  cfg.ca_file = ca.string();
  cfg.verify = verify;
  cfg.alpn = std::move(alpn);
  auto ctx = tls_context::client(cfg);
  REQUIRE_MESSAGE(ctx.ok(), (ctx.ok() ? "" : ctx.err().message));
  return *ctx;
}

// Moves ciphertext between the two sessions until neither has output.
void pump(tls_session& a, tls_session& b) {
  while (true) {
    std::string_view oa = a.output();
    std::string_view ob = b.output();
    if (oa.empty() && ob.empty()) {
      return;
    }
    REQUIRE(b.feed(oa).ok());
    a.consume_output(oa.size());
    REQUIRE(a.feed(ob).ok());
    b.consume_output(ob.size());
  }
}

// Runs both handshakes to completion or returns the first error (client's first).
status handshake(tls_session& client, tls_session& server) {
  for (int round = 0; round < 20; ++round) {
    result<bool> c = client.handshake();
    if (!c) {
      pump(client, server);
      return std::move(c).err();
    }
    result<bool> s = server.handshake();
    if (!s) {
      pump(client, server);
      return std::move(s).err();
    }
    if (*c && *s) {
      pump(client, server);
      return {};
    }
    pump(client, server);
  }
  return make_error(ETIMEDOUT, "handshake made no progress");
}

std::unique_ptr<tls_session> new_client(std::shared_ptr<tls_context> ctx, std::string host,
                                        uint16_t port = 443) {
  auto s = tls_session::client(std::move(ctx), std::move(host), port);
  REQUIRE(s.ok());
  return std::move(*s);
}

std::unique_ptr<tls_session> new_server(std::shared_ptr<tls_context> ctx) {
  auto s = tls_session::server(std::move(ctx));
  REQUIRE(s.ok());
  return std::move(*s);
}

// Reads whatever plaintext is available.
std::string read_all(tls_session& s) {
  std::string out;
  char buf[4096];
  while (true) {
    result<size_t> n = s.read(buf);
    REQUIRE(n.ok());
    if (*n == 0) {
      return out;
    }
    out.append(buf, *n);
  }
}

}  // namespace

TEST_SUITE("tls") {
  TEST_CASE("client and server handshake in memory, negotiate h2 and exchange data") {
    auto client = new_client(client_context(certs().good / "ca.pem"), "localhost");
    auto server = new_server(server_context());
    status hs = handshake(*client, *server);
    REQUIRE_MESSAGE(hs.ok(), (hs.ok() ? "" : hs.err().message));
    CHECK(client->handshake_done());
    CHECK(client->alpn() == "h2");
    CHECK(server->alpn() == "h2");

    std::string big(100000, 'q');
    result<size_t> w = client->write(big);
    REQUIRE(w.ok());
    CHECK(*w == big.size());
    pump(*client, *server);
    CHECK(read_all(*server) == big);
    REQUIRE(server->write(std::string_view("pong")).ok());
    pump(*client, *server);
    CHECK(read_all(*client) == "pong");

    REQUIRE(server->shutdown().ok());
    pump(*client, *server);
    CHECK(read_all(*client).empty());
    CHECK(client->peer_closed());
  }

  TEST_CASE("an IP address is verified against the certificate's IP SAN") {
    auto client = new_client(client_context(certs().good / "ca.pem"), "127.0.0.1");
    auto server = new_server(server_context());
    status hs = handshake(*client, *server);
    CHECK_MESSAGE(hs.ok(), (hs.ok() ? "" : hs.err().message));
  }

  TEST_CASE("a certificate from an unknown CA is refused") {
    auto client = new_client(client_context(certs().other / "ca.pem"), "localhost");
    auto server = new_server(server_context());
    status hs = handshake(*client, *server);
    REQUIRE_FALSE(hs.ok());
    CHECK(hs.err().code == EACCES);
    CHECK(hs.err().message.find("certificate verification failed") != std::string::npos);
  }

  TEST_CASE("a hostname the certificate does not name is refused") {
    auto client = new_client(client_context(certs().good / "ca.pem"), "oss.example.com");
    auto server = new_server(server_context());
    status hs = handshake(*client, *server);
    REQUIRE_FALSE(hs.ok());
    CHECK(hs.err().code == EACCES);
    CHECK(hs.err().message.find("hostname mismatch") != std::string::npos);
  }

  TEST_CASE("verification can be disabled explicitly") {
    auto client = new_client(client_context(certs().other / "ca.pem", false), "oss.example.com");
    auto server = new_server(server_context());
    CHECK(handshake(*client, *server).ok());
  }

  TEST_CASE("ALPN follows the server's preference among what the client offers") {
    {
      auto client =
          new_client(client_context(certs().good / "ca.pem", true, {"http/1.1"}), "localhost");
      auto server = new_server(server_context());
      REQUIRE(handshake(*client, *server).ok());
      CHECK(client->alpn() == "http/1.1");
    }
    {
      auto client = new_client(client_context(certs().good / "ca.pem"), "localhost");
      auto server = new_server(server_context({"http/1.1", "h2"}));
      REQUIRE(handshake(*client, *server).ok());
      CHECK(client->alpn() == "http/1.1");
    }
    {
      auto client = new_client(client_context(certs().good / "ca.pem", true, {}), "localhost");
      auto server = new_server(server_context());
      REQUIRE(handshake(*client, *server).ok());
      CHECK(client->alpn().empty());
    }
  }

  TEST_CASE("the second handshake to the same host:port resumes the cached session") {
    auto cctx = client_context(certs().good / "ca.pem");
    auto sctx = server_context();
    {
      auto client = new_client(cctx, "localhost", 8443);
      auto server = new_server(sctx);
      REQUIRE(handshake(*client, *server).ok());
      CHECK_FALSE(client->session_reused());
      read_all(*client);  // TLS 1.3 session tickets are processed on read
    }
    CHECK(cctx->cached_sessions() == 1);
    {
      auto client = new_client(cctx, "localhost", 8443);
      auto server = new_server(sctx);
      REQUIRE(handshake(*client, *server).ok());
      CHECK(client->session_reused());
      CHECK(server->session_reused());
    }
    {
      auto client = new_client(cctx, "localhost", 9443);  // other port: no cached session
      auto server = new_server(sctx);
      REQUIRE(handshake(*client, *server).ok());
      CHECK_FALSE(client->session_reused());
    }
  }

  TEST_CASE("missing certificate files and mismatched roles are reported") {
    tls_server_config cfg;
    cfg.cert_file = "/nonexistent/server.pem";
    cfg.key_file = "/nonexistent/server.key";
    auto ctx = tls_context::server(cfg);
    REQUIRE_FALSE(ctx.ok());
    CHECK(ctx.err().code == EINVAL);
    CHECK(ctx.err().message.find("/nonexistent/server.pem") != std::string::npos);

    tls_client_config ccfg;
    ccfg.ca_file = "/nonexistent/ca.pem";
    CHECK_FALSE(tls_context::client(ccfg).ok());

    CHECK_FALSE(tls_session::server(client_context(certs().good / "ca.pem")).ok());
  }

  TEST_CASE("the default client context loads the system CA bundle") {
    auto ctx = tls_context::client({});
    CHECK(ctx.ok());
  }
}
