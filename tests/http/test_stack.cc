// The engines stacked as the socket drivers will stack them: HTTP/2 over TLS, all in memory.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "http/h2_client.hh"
#include "http/h2_server.hh"
#include "http/tls.hh"

using namespace ossuring;
using namespace ossuring::http;
namespace fs = std::filesystem;

namespace {

// One endpoint of a connection: TLS below, HTTP/2 above, as a reactor driver would hold them.
struct endpoint_stack {
  std::unique_ptr<tls_session> tls;
  h2_session* h2 = nullptr;

  // Ciphertext from the wire -> TLS -> HTTP/2.
  void receive(std::string_view ciphertext) {
    REQUIRE(tls->feed(ciphertext).ok());
    REQUIRE(tls->handshake().ok());
    if (!tls->handshake_done()) {
      return;
    }
    char buf[16384];
    while (true) {
      result<size_t> n = tls->read(buf);
      REQUIRE(n.ok());
      if (*n == 0) {
        break;
      }
      REQUIRE(h2->feed(std::string_view(buf, *n)).ok());
    }
  }

  // HTTP/2 frames -> TLS -> ciphertext for the wire.
  std::string transmit() {
    if (tls->handshake_done()) {
      result<std::string_view> out = h2->output();
      REQUIRE(out.ok());
      while (!out->empty()) {
        result<size_t> n = tls->write(*out);
        REQUIRE(n.ok());
        h2->consume_output(*n);
        out = h2->output();
        REQUIRE(out.ok());
      }
    } else {
      REQUIRE(tls->handshake().ok());
    }
    std::string wire(tls->output());
    tls->consume_output(wire.size());
    return wire;
  }
};

}  // namespace

TEST_CASE("HTTP/2 over TLS with ALPN h2 carries a 4 MiB response in memory") {
  const char* script = std::getenv("OSSURING_GEN_TEST_CERTS");
  REQUIRE(script != nullptr);
  char tmpl[] = "/tmp/ossuring-stack-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  fs::path dir = tmpl;
  REQUIRE(std::system((std::string(script) + " '" + dir.string() + "'").c_str()) == 0);

  tls_client_config cc;
  cc.ca_file = (dir / "ca.pem").string();
  tls_server_config sc;
  sc.cert_file = (dir / "server.pem").string();
  sc.key_file = (dir / "server.key").string();
  auto cctx = tls_context::client(cc);
  auto sctx = tls_context::server(sc);
  REQUIRE(cctx.ok());
  REQUIRE(sctx.ok());

  constexpr size_t size = 4u << 20;
  std::unique_ptr<h2_server_session> server;
  h2_server_options so;
  so.on_request = [&](int32_t id, request req) {
    CHECK(req.target == "/bucket-object");
    REQUIRE(server->respond(id, 200, {}, body_from_string(std::string(size, 'z'))).ok());
  };
  server = h2_server_session::create(std::move(so)).value();
  std::unique_ptr<h2_client_session> client = h2_client_session::create().value();

  endpoint_stack c{tls_session::client(*cctx, "localhost", 443).value(), client.get()};
  endpoint_stack s{tls_session::server(*sctx).value(), server.get()};

  size_t received = 0;
  std::optional<status> closed;
  h2_stream_callbacks cbs;
  cbs.on_data = [&](std::span<const char> b) -> status {
    received += b.size();
    return {};
  };
  cbs.on_close = [&](status st) { closed = std::move(st); };
  request req;
  req.method = "GET";
  req.target = "/bucket-object";
  req.authority = "localhost";
  REQUIRE(client->submit(req, std::move(cbs)).ok());

  for (int round = 0; round < 10000 && !closed; ++round) {
    std::string to_server = c.transmit();
    std::string to_client = s.transmit();
    if (to_server.empty() && to_client.empty() && round > 0 && c.tls->handshake_done() &&
        s.tls->handshake_done() && !client->has_output() && !server->has_output()) {
      break;
    }
    s.receive(to_server);
    c.receive(to_client);
  }
  CHECK(c.tls->alpn() == "h2");
  REQUIRE(closed.has_value());
  CHECK(closed->ok());
  CHECK(received == size);
  fs::remove_all(dir);
}
