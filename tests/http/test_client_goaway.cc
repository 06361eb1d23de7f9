// The socket client against bare nghttp2 servers (one that sends GOAWAY, one that reads request
// bodies slowly), and endpoint parsing.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "core/gate.hh"
#include "core/net.hh"
#include "core/reactor.hh"
#include "http/client.hh"
#include "http/h2_server.hh"
#include "tests/core/support.hh"
#include "tests/http/client_support.hh"

using namespace ossuring;
using namespace ossuring::http;
using namespace ossuring::http::test_client;
using namespace std::chrono_literals;

TEST_CASE("parse_endpoint accepts host, host:port and http(s) URLs and rejects the rest") {
  auto a = parse_endpoint("oss-cn-hangzhou.aliyuncs.com");
  REQUIRE(a.ok());
  CHECK(a->host == "oss-cn-hangzhou.aliyuncs.com");
  CHECK(a->port == 443);
  CHECK(a->tls);
  auto b = parse_endpoint("http://127.0.0.1:8080");
  REQUIRE(b.ok());
  CHECK(b->host == "127.0.0.1");
  CHECK(b->port == 8080);
  CHECK_FALSE(b->tls);
  auto c = parse_endpoint("http://localhost");
  REQUIRE(c.ok());
  CHECK(c->port == 80);
  auto d = parse_endpoint("https://[::1]:9443/");
  REQUIRE(d.ok());
  CHECK(d->host == "::1");
  CHECK(d->port == 9443);
  auto e = parse_endpoint("example.com:444");
  REQUIRE(e.ok());
  CHECK(e->port == 444);
  CHECK(e->tls);
  for (std::string_view bad : {"", "ftp://x", "http://", "host:0", "host:70000", "host:x",
                               "http://host/path", "::1", "user@host", "[::1"}) {
    auto r = parse_endpoint(bad);
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) {
      CHECK(r.err().code == EINVAL);
    }
  }
}

namespace {

// Sends all the session's pending output; false once the connection is gone.
task<bool> send_output(h2_server_session& sess, int fd) {
  for (;;) {
    result<std::string_view> out = sess.output();
    REQUIRE(out.ok());
    if (out->empty()) {
      co_return true;
    }
    int w = co_await send(fd, out->data(), out->size());
    if (w <= 0) {
      co_return false;
    }
    sess.consume_output(static_cast<size_t>(w));
  }
}

// Reads what arrived (at most buf.size() bytes) into the session; false once the connection is
// gone, stopped or silent for 5 s.
task<bool> receive(h2_server_session& sess, int fd, std::vector<char>& buf, abort_source* stop) {
  int r = co_await recv(fd, buf.data(), buf.size(), 0, {.abort = stop, .timeout = 5s});
  co_return r > 0 && sess.feed(std::span<const char>(buf.data(), static_cast<size_t>(r))).ok();
}

// A bare HTTP/2 server for GOAWAY: connection 1 refuses its first request (GOAWAY with last
// stream 0); every later connection answers one request, then sends GOAWAY naming that stream.
task<void> goaway_connection(unique_fd fd, int n, abort_source* stop) {
  std::vector<int32_t> pending;
  h2_server_options o;
  o.on_request = [&pending](int32_t id, request) { pending.push_back(id); };
  auto sess = h2_server_session::create(std::move(o));
  REQUIRE(sess.ok());
  std::vector<char> buf(64 * 1024);
  for (;;) {
    for (int32_t id : pending) {
      if (n == 1) {
        REQUIRE((*sess)->goaway(0, 0).ok());
      } else {
        REQUIRE((*sess)->respond(id, 200, {}, body_from_string("conn " + std::to_string(n))).ok());
        REQUIRE((*sess)->goaway(0, id).ok());
      }
    }
    pending.clear();
    if (!co_await send_output(**sess, fd.get())) {
      co_return;
    }
    if (!co_await receive(**sess, fd.get(), buf, stop)) {
      co_return;
    }
  }
}

task<void> goaway_server(acceptor& acc, int& conns, abort_source* stop) {
  gate g;
  for (;;) {
    result<unique_fd> fd = co_await acc.accept();
    if (!fd.ok()) {
      break;
    }
    g.spawn(goaway_connection(std::move(*fd), ++conns, stop));
  }
  co_await g.close();
}

// One connection that takes its input in 16 KiB reads 20 ms apart, with a 64 KiB window:
// a request body arrives at ~0.8 MB/s, and each complete request is answered "got N" at once.
task<void> slow_reader_connection(unique_fd fd, abort_source* stop) {
  std::vector<int32_t> pending;
  std::vector<size_t> sizes;
  h2_server_options o;
  o.settings.initial_window_size = 64u << 10;
  o.settings.connection_window_size = 64u << 10;
  o.on_request = [&](int32_t id, request req) {
    pending.push_back(id);
    sizes.push_back(req.body.size());
  };
  auto sess = h2_server_session::create(std::move(o));
  REQUIRE(sess.ok());
  std::vector<char> buf(16 * 1024);
  for (;;) {
    for (size_t i = 0; i < pending.size(); ++i) {
      REQUIRE(
          (*sess)
              ->respond(pending[i], 200, {}, body_from_string("got " + std::to_string(sizes[i])))
              .ok());
    }
    pending.clear();
    sizes.clear();
    if (!co_await send_output(**sess, fd.get())) {
      co_return;
    }
    if (co_await sleep_for(20ms, stop) != 0) {
      co_return;
    }
    if (!co_await receive(**sess, fd.get(), buf, stop)) {
      co_return;
    }
  }
}

// Runs `client` in a fresh reactor against `serve`, which accepts on 127.0.0.1:0 until the
// acceptor closes; `stop` ends its connections.
void with_bare_server(std::function<task<void>(acceptor&, abort_source*)> serve,
                      std::function<task<void>(uint16_t port)> client) {
  test::require_io_uring();
  reactor r;
  r.run([&]() -> task<void> {
    auto addr = parse_numeric_address("127.0.0.1", 0);
    auto fd = tcp_listen(*addr);
    REQUIRE(fd.ok());
    uint16_t port = local_address(fd->get()).port();
    acceptor acc(fd->get());
    abort_source stop;
    gate g;
    g.spawn(serve(acc, &stop));
    co_await client(port);
    stop.request_abort();
    co_await acc.close();
    co_await g.close();
  }());
}

}  // namespace

TEST_CASE("HTTP/2: an upload slower than first_byte_timeout, but moving, is not timed out") {
  with_bare_server(
      [](acceptor& acc, abort_source* stop) -> task<void> {
        result<unique_fd> c = co_await acc.accept();
        if (c.ok()) {
          co_await slow_reader_connection(std::move(*c), stop);
        }
      },
      [](uint16_t port) -> task<void> {
        client_options o = options("2");
        o.h2_connections = 1;
        o.first_byte_timeout = 150ms;
        auto c = make_client(endpoint{"127.0.0.1", port, false}, o);
        // ~0.8 s of upload: more than five first-byte periods without a response byte.
        const std::string body(640 * 1024, 'u');
        exchange ex;
        ex.req.method = "PUT";
        ex.req.target = "/upload";
        ex.request_body = body_from_string(body);
        ex.request_body_length = body.size();
        result<response> res = co_await c->send(ex);
        REQUIRE_MESSAGE(res.ok(), (res.ok() ? "" : res.err().message));
        CHECK(res->body == "got " + std::to_string(body.size()));
        co_await c->close();
      });
}

TEST_CASE("HTTP/2 GOAWAY: refused streams are re-sent and new requests use a new connection") {
  int conns = 0;
  with_bare_server(
      [&conns](acceptor& acc, abort_source* stop) { return goaway_server(acc, conns, stop); },
      [&conns](uint16_t port) -> task<void> {
        client_options o = options("2");
        o.h2_connections = 1;
        auto c = make_client(endpoint{"127.0.0.1", port, false}, o);
        for (int i = 0; i < 5; ++i) {
          result<response> res = co_await get(*c, "/x");
          REQUIRE_MESSAGE(res.ok(), (res.ok() ? "" : res.err().message));
          CHECK(res->status == 200);
          CHECK(res->body == "conn " + std::to_string(i + 2));
        }
        CHECK(conns == 6);
        CHECK(c->stats().connections_opened == 6);
        co_await c->close();
      });
}
