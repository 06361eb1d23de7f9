// The socket client against http::server on loopback, in one reactor: HTTP/1.1 pool reuse and
// bounds, h2c, TLS with ALPN, large and streamed bodies, faults, timeouts, cancellation, TLS trust.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/gate.hh"
#include "core/net.hh"
#include "core/reactor.hh"
#include "http/client.hh"
#include "http/client_core.hh"
#include "http/server.hh"
#include "tests/core/support.hh"
#include "tests/http/client_support.hh"

using namespace ossuring;
using namespace ossuring::http;
using namespace ossuring::http::test_client;
using namespace std::chrono_literals;

namespace {

// Fired at the end of each test so handlers sleeping on purpose end at once.
abort_source* handler_stop = nullptr;

// Sends the first `n` pattern bytes as body pieces; false when the stream went away.
task<bool> send_pattern(responder& out, uint64_t n) {
  std::string chunk;
  for (uint64_t off = 0; off < n; off += chunk.size()) {
    chunk.resize(std::min<uint64_t>(64 * 1024, n - off));
    for (size_t j = 0; j < chunk.size(); ++j) {
      chunk[j] = pattern(off + j);
    }
    if (!(co_await out.send_body(chunk)).ok()) {
      co_return false;
    }
  }
  co_return true;
}

// /size/N: N pattern bytes. /echo: the request body. /slow/MS: "ok" after MS ms.
// /reset/N: announces 2N bytes, sends N, resets. /stall/N: announces 2N, sends N, waits.
task<void> handle(request& req, responder& out, const connection_info&) {
  std::string_view t = req.target;
  if (t.starts_with("/size/")) {
    uint64_t n = number_after(t, "/size/");
    if ((co_await out.send_head(200, {}, n, req.method == "HEAD")).ok() &&
        co_await send_pattern(out, n)) {
      (void)co_await out.finish();
    }
  } else if (t == "/echo") {
    header_list h;
    h.add("x-received", std::to_string(req.body.size()));
    if ((co_await out.send_head(200, h, req.body.size(), false)).ok() &&
        (co_await out.send_body(req.body)).ok()) {
      (void)co_await out.finish();
    }
  } else if (t.starts_with("/slow/")) {
    co_await sleep_for(std::chrono::milliseconds(number_after(t, "/slow/")), handler_stop);
    if ((co_await out.send_head(200, {}, 2, false)).ok() && (co_await out.send_body("ok")).ok()) {
      (void)co_await out.finish();
    }
  } else if (t.starts_with("/reset/") || t.starts_with("/stall/")) {
    uint64_t n = number_after(t, "/reset/");
    if ((co_await out.send_head(200, {}, 2 * n, false)).ok() && co_await send_pattern(out, n)) {
      if (t.starts_with("/stall/")) {
        co_await sleep_for(10s, handler_stop);
      }
      out.abort();
    }
  } else if (t == "/endless") {
    // Until close (HTTP/1.1) or without a length (h2): 16 MiB unless the client stops it first.
    const header_list no_headers;
    status head = co_await out.send_head(200, no_headers, std::nullopt, false);
    if (head.ok() && co_await send_pattern(out, 16u << 20)) {
      status done = co_await out.finish();
      static_cast<void>(done);
    }
  } else if (t.starts_with("/announce/")) {
    // Announces N bytes, sends 64 KiB of them and stalls.
    uint64_t n = number_after(t, "/announce/");
    const header_list no_headers;
    status head = co_await out.send_head(200, no_headers, n, false);
    if (head.ok() && co_await send_pattern(out, 64 * 1024)) {
      co_await sleep_for(10s, handler_stop);
    }
    out.abort();
  } else {
    (void)co_await out.send_head(404, {}, 0, false);
    (void)co_await out.finish();
  }
}

struct test_env {
  uint16_t port = 0;
  server* srv = nullptr;
  endpoint ep(bool tls) const { return endpoint{"127.0.0.1", port, tls}; }
};

// Runs `body` in a fresh reactor with a server on 127.0.0.1:0 (TLS when `tls` is set), which
// closes connections idle for `server_idle` (0: its default).
void with_server(std::shared_ptr<tls_context> tls, std::function<task<void>(test_env&)> body,
                 std::chrono::milliseconds server_idle = {}) {
  test::require_io_uring();
  reactor r;
  r.run([&]() -> task<void> {
    abort_source stop;
    handler_stop = &stop;
    auto addr = parse_numeric_address("127.0.0.1", 0);
    REQUIRE(addr.ok());
    auto fd = tcp_listen(*addr);
    REQUIRE(fd.ok());
    test_env env;
    env.port = local_address(fd->get()).port();
    server_options so;
    so.tls = tls;
    if (server_idle.count() > 0) {
      so.idle_timeout = server_idle;
    }
    server srv(std::move(*fd), so, handle);
    env.srv = &srv;
    gate g;
    g.spawn(srv.serve());
    co_await body(env);
    stop.request_abort();
    co_await srv.stop();
    co_await g.close();
    handler_stop = nullptr;
  }());
}

// `count` GETs of /size/N at once; returns how many came back byte-for-byte.
task<int> concurrent_gets(client& c, int count, uint64_t size) {
  int good = 0;
  gate g;
  for (int i = 0; i < count; ++i) {
    g.spawn([](client& c, uint64_t size, int& good) -> task<void> {
      result<response> r = co_await get(c, "/size/" + std::to_string(size));
      if (r.ok() && r->status == 200 && matches_pattern(r->body, size)) {
        ++good;
      }
    }(c, size, good));
  }
  co_await g.close();
  co_return good;
}

}  // namespace

TEST_CASE("HTTP/1.1: sequential requests reuse one keep-alive connection") {
  with_server(nullptr, [](test_env& env) -> task<void> {
    auto c = make_client(env.ep(false), options("auto"));
    for (int i = 0; i < 50; ++i) {
      result<response> r = co_await get(*c, "/size/" + std::to_string(1000 + i));
      REQUIRE(r.ok());
      CHECK(r->status == 200);
      CHECK(matches_pattern(r->body, 1000 + i));
    }
    CHECK(env.srv->connections_accepted() == 1);
    CHECK(c->stats().requests == 50);
    CHECK(c->stats().connections_opened == 1);
    CHECK(c->stats().bytes_received > 50 * 1000);
    CHECK(c->negotiated_protocol() == "http/1.1");
    co_await c->close();
  });
}

TEST_CASE("HTTP/1.1: 200 concurrent requests stay within max_h1_connections") {
  with_server(nullptr, [](test_env& env) -> task<void> {
    client_options o = options("1.1");
    o.max_h1_connections = 8;
    auto c = make_client(env.ep(false), o);
    CHECK(co_await concurrent_gets(*c, 200, 20000) == 200);
    CHECK(env.srv->connections_accepted() <= 8);
    CHECK(env.srv->connections_accepted() >= 1);
    // The pool is warm: a second round opens nothing new.
    uint64_t before = env.srv->connections_accepted();
    CHECK(co_await concurrent_gets(*c, 50, 100) == 50);
    CHECK(env.srv->connections_accepted() == before);
    co_await c->close();
  });
}

TEST_CASE("h2c with prior knowledge carries 200 concurrent streams on h2_connections") {
  with_server(nullptr, [](test_env& env) -> task<void> {
    auto c = make_client(env.ep(false), options("2"));
    CHECK(co_await concurrent_gets(*c, 200, 20000) == 200);
    CHECK(env.srv->connections_accepted() <= 2);
    CHECK(c->stats().h2_requests == 200);
    CHECK(c->negotiated_protocol() == "h2");
    co_await c->close();
  });
}

TEST_CASE("TLS: auto negotiates h2 by ALPN") {
  with_server(server_tls({"h2", "http/1.1"}), [](test_env& env) -> task<void> {
    auto c = make_client(env.ep(true), options("auto"));
    CHECK(co_await concurrent_gets(*c, 100, 50000) == 100);
    CHECK(c->negotiated_protocol() == "h2");
    CHECK(c->stats().h2_requests == 100);
    CHECK(env.srv->connections_accepted() <= 2);
    co_await c->close();
  });
}

TEST_CASE("TLS: auto falls back to HTTP/1.1 when the server's ALPN chooses it") {
  with_server(server_tls({"http/1.1"}), [](test_env& env) -> task<void> {
    auto c = make_client(env.ep(true), options("auto"));
    CHECK(co_await concurrent_gets(*c, 64, 50000) == 64);
    CHECK(c->negotiated_protocol() == "http/1.1");
    CHECK(c->stats().h2_requests == 0);
    for (int i = 0; i < 10; ++i) {
      result<response> r = co_await get(*c, "/size/10");
      CHECK(r.ok());
    }
    CHECK(env.srv->connections_accepted() <= 64);
    co_await c->close();
  });
}

TEST_CASE("a 32 MiB body lands byte-for-byte in the caller's buffer") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      auto c = make_client(env.ep(false), options(mode));
      constexpr uint64_t size = 32u << 20;
      std::vector<char> buf(size);
      size_t pos = 0;
      body_sink sink = [&](std::span<const char> d) -> status {
        if (pos + d.size() > buf.size()) {
          return make_error(EMSGSIZE, "too much");
        }
        std::memcpy(buf.data() + pos, d.data(), d.size());
        pos += d.size();
        return {};
      };
      result<response> r = co_await get(*c, "/size/" + std::to_string(size), sink);
      REQUIRE(r.ok());
      CHECK(r->body.empty());
      CHECK(pos == size);
      CHECK(matches_pattern(std::string_view(buf.data(), pos), size));
      co_await c->close();
    });
  }
}

TEST_CASE("a streamed request body is uploaded completely") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      auto c = make_client(env.ep(false), options(mode));
      std::string data(3u << 20, '\0');
      for (size_t i = 0; i < data.size(); ++i) {
        data[i] = pattern(i);
      }
      exchange ex;
      ex.req.method = "PUT";
      ex.req.target = "/echo";
      ex.request_body = body_from_view(data);
      ex.request_body_length = data.size();
      result<response> r = co_await c->send(ex);
      REQUIRE(r.ok());
      CHECK(r->status == 200);
      CHECK(r->headers.get("x-received") == std::to_string(data.size()));
      CHECK(r->body == data);
      co_await c->close();
    });
  }
}

TEST_CASE("a server reset mid-body is an error, never a short success") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      auto c = make_client(env.ep(false), options(mode));
      result<response> r = co_await get(*c, "/reset/200000");
      REQUIRE_FALSE(r.ok());
      CHECK((r.err().code == ECONNRESET || r.err().code == EPROTO));
      CHECK(r.err().message.find("127.0.0.1") != std::string::npos);
      // The client recovers: the next request works.
      result<response> ok = co_await get(*c, "/size/100");
      CHECK(ok.ok());
      co_await c->close();
    });
  }
}

TEST_CASE("a response slower than first_byte_timeout fails with ETIMEDOUT") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      client_options o = options(mode);
      o.first_byte_timeout = 200ms;
      auto c = make_client(env.ep(false), o);
      result<response> r = co_await get(*c, "/slow/5000");
      REQUIRE_FALSE(r.ok());
      CHECK(r.err().code == ETIMEDOUT);
      result<response> ok = co_await get(*c, "/size/100");
      CHECK(ok.ok());
      co_await c->close();
    });
  }
}

TEST_CASE("exchange.timeout bounds the whole exchange") {
  with_server(nullptr, [](test_env& env) -> task<void> {
    auto c = make_client(env.ep(false), options("1.1"));
    exchange ex;
    ex.req.method = "GET";
    ex.req.target = "/slow/5000";
    ex.timeout = 200ms;
    result<response> r = co_await c->send(ex);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == ETIMEDOUT);
    co_await c->close();
  });
}

TEST_CASE("aborting mid-response returns ECANCELED and frees the connection or stream") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      client_options o = options(mode);
      o.max_h1_connections = 1;
      o.h2_connections = 1;
      auto c = make_client(env.ep(false), o);
      abort_source abort;
      uint64_t got = 0;
      body_sink sink = [&](std::span<const char> d) -> status {
        got += d.size();
        abort.request_abort();
        return {};
      };
      result<response> r = co_await get(*c, "/stall/100000", sink, &abort);
      REQUIRE_FALSE(r.ok());
      CHECK(r.err().code == ECANCELED);
      CHECK(got > 0);
      result<response> ok = co_await get(*c, "/size/1000");
      REQUIRE(ok.ok());
      CHECK(matches_pattern(ok->body, 1000));
      co_await c->close();
    });
  }
}

TEST_CASE("a closed port is ECONNREFUSED naming the peer") {
  test::require_io_uring();
  reactor r;
  r.run([]() -> task<void> {
    auto addr = parse_numeric_address("127.0.0.1", 0);
    auto fd = tcp_listen(*addr);
    uint16_t port = local_address(fd->get()).port();
    fd->reset();
    for (std::string mode : {"1.1", "2", "auto"}) {
      // auto is tried over TLS, where concurrent first requests share the ALPN probe's failure.
      const bool tls = mode == "auto";
      auto c = make_client(endpoint{"127.0.0.1", port, tls}, options(mode));
      std::vector<std::optional<result<response>>> out(3);
      gate g;
      for (auto& o : out) {
        g.spawn([](client& c, std::optional<result<response>>& o) -> task<void> {
          o.emplace(co_await get(c, "/"));
        }(*c, o));
      }
      co_await g.close();
      for (auto& res : out) {
        REQUIRE_FALSE(res->ok());
        CHECK(res->err().code == ECONNREFUSED);
        std::string peer = (tls ? "https" : "http") + std::string("://127.0.0.1:");
        CHECK(res->err().message.find(peer + std::to_string(port)) != std::string::npos);
      }
      co_await c->close();
    }
  }());
}

TEST_CASE("a server certificate from an unknown CA is refused unless verify_peer is off") {
  with_server(server_tls({"h2", "http/1.1"}), [](test_env& env) -> task<void> {
    client_options o = options("auto");
    o.ca_file = (certs().other / "ca.pem").string();
    auto strict = make_client(env.ep(true), o);
    result<response> r = co_await get(*strict, "/size/10");
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == EACCES);
    co_await strict->close();

    o.verify_peer = false;
    auto lax = make_client(env.ep(true), o);
    result<response> ok = co_await get(*lax, "/size/10");
    REQUIRE(ok.ok());
    CHECK(matches_pattern(ok->body, 10));
    co_await lax->close();
  });
}

TEST_CASE("close() fails exchanges in flight with ECANCELED") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      auto c = make_client(env.ep(false), options(mode));
      std::optional<result<response>> out;
      gate g;
      g.spawn([](client& c, std::optional<result<response>>& out) -> task<void> {
        out.emplace(co_await get(c, "/slow/5000"));
      }(*c, out));
      co_await sleep_for(100ms);
      co_await c->close();
      co_await g.close();
      REQUIRE(out.has_value());
      REQUIRE_FALSE(out->ok());
      CHECK(out->err().code == ECANCELED);
    });
  }
}

TEST_CASE("connections idle for longer than idle_timeout are closed and replaced") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      client_options o = options(mode);
      o.idle_timeout = 100ms;
      auto c = make_client(env.ep(false), o);
      REQUIRE((co_await get(*c, "/size/10")).ok());
      REQUIRE((co_await get(*c, "/size/10")).ok());
      CHECK(env.srv->connections_accepted() == 1);
      co_await sleep_for(400ms);
      REQUIRE((co_await get(*c, "/size/10")).ok());
      CHECK(env.srv->connections_accepted() == 2);
      co_await c->close();
    });
  }
}

TEST_CASE("HTTP/1.1: a connection the server closed while idle is not used, over TLS too") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    with_server(
        tls ? server_tls({"http/1.1"}) : nullptr,
        [tls](test_env& env) -> task<void> {
          auto c = make_client(env.ep(tls), options("1.1"));
          REQUIRE((co_await get(*c, "/size/10")).ok());
          // Kept while the server keeps it (TLS 1.3 session tickets waiting on it are no close).
          co_await sleep_for(50ms);
          REQUIRE((co_await get(*c, "/size/10")).ok());
          CHECK(env.srv->connections_accepted() == 1);
          // Closed by the server's keep-alive timer (over TLS: close_notify, then FIN). A POST,
          // which is never sent twice, must go out on a new connection.
          co_await sleep_for(600ms);
          exchange ex;
          ex.req.method = "POST";
          ex.req.target = "/echo";
          ex.req.body = "hello";
          result<response> p = co_await c->send(ex);
          REQUIRE(p.ok());
          CHECK(p->status == 200);
          CHECK(env.srv->connections_accepted() == 2);
          co_await c->close();
        },
        200ms);
  }
}

TEST_CASE("an idle HTTP/2 connection sends keep-alive PINGs, the server answers, and it stays") {
  with_server(nullptr, [](test_env& env) -> task<void> {
    client_options o = options("2");
    o.idle_timeout = 2s;  // the keep-alive period is a quarter of it: 500 ms
    auto c = make_client(env.ep(false), o);
    REQUIRE((co_await get(*c, "/size/10")).ok());
    CHECK(c->stats().h2_pings_sent == 0);
    for (int i = 0; i < 36 && c->stats().h2_ping_acks == 0; ++i) {
      co_await sleep_for(50ms);
    }
    CHECK(c->stats().h2_pings_sent >= 1);
    CHECK(c->stats().h2_ping_acks >= 1);
    // Answered PINGs keep the connection: the next request reuses it.
    result<response> r = co_await get(*c, "/size/10");
    REQUIRE(r.ok());
    CHECK(matches_pattern(r->body, 10));
    CHECK(env.srv->connections_accepted() == 1);
    CHECK(c->stats().connections_opened == 1);
    co_await c->close();
  });
}

TEST_CASE("a connection the server closed while idle is not reused") {
  with_server(nullptr, [](test_env& env) -> task<void> {
    auto c = make_client(env.ep(false), options("1.1"));
    exchange ex;
    ex.req.method = "GET";
    ex.req.target = "/size/10";
    ex.req.headers.add("Connection", "close");  // the server closes after answering
    result<response> r = co_await c->send(ex);
    REQUIRE(r.ok());
    result<response> again = co_await get(*c, "/size/20");
    REQUIRE(again.ok());
    CHECK(matches_pattern(again->body, 20));
    CHECK(env.srv->connections_accepted() == 2);
    co_await c->close();
  });
}

TEST_CASE("TLS: --http=2 offers only h2 and --http=1.1 only http/1.1") {
  with_server(server_tls({"h2", "http/1.1"}), [](test_env& env) -> task<void> {
    auto h2 = make_client(env.ep(true), options("2"));
    REQUIRE((co_await get(*h2, "/size/10")).ok());
    CHECK(h2->negotiated_protocol() == "h2");
    co_await h2->close();
    auto h1 = make_client(env.ep(true), options("1.1"));
    REQUIRE((co_await get(*h1, "/size/10")).ok());
    CHECK(h1->negotiated_protocol() == "http/1.1");
    CHECK(h1->stats().h2_requests == 0);
    co_await h1->close();
  });
  with_server(server_tls({"http/1.1"}), [](test_env& env) -> task<void> {
    auto h2 = make_client(env.ep(true), options("2"));
    result<response> r = co_await get(*h2, "/size/10");
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == EPROTO);
    co_await h2->close();
  });
}

TEST_CASE("a body kept in memory is refused the moment it passes max_body") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      auto c = make_client(env.ep(false), options(mode));
      exchange ex;
      ex.req.method = "GET";
      ex.req.target = "/endless";
      ex.max_body = 1u << 20;
      result<response> r = co_await c->send(ex);
      REQUIRE_MESSAGE(!r.ok(),
                      (r.ok() ? std::to_string(r->status) + " " + std::to_string(r->body.size())
                              : std::string()));
      CHECK(r.err().code == EMSGSIZE);
      CHECK(r.err().message.find("1048576-byte limit") != std::string::npos);
      if (mode == "1.1") {
        // Reading stopped at the limit: at most one more read buffer arrived.
        CHECK(c->stats().bytes_received < (2u << 20));
      }
      result<response> ok = co_await get(*c, "/size/100");
      CHECK(ok.ok());
      co_await c->close();
    });
  }
}

TEST_CASE("a body of unknown length never reserves more than max_body") {
  // Chunks of an odd size: doubling from 3,001 bytes would reserve 1,536,512 bytes for a body
  // limited to 1,000,000, and the old buffer lives on while it copies.
  const uint64_t limit = 1'000'000;
  const std::string chunk(3001, 'x');
  std::string body;
  status st;
  while ((st = ossuring::http::detail::append_within(body, chunk, limit)).ok()) {
    REQUIRE(body.capacity() <= limit);
  }
  CHECK(st.err().code == EMSGSIZE);
  CHECK(st.err().message.find("1000000-byte limit") != std::string::npos);
  CHECK(body.size() == limit / chunk.size() * chunk.size());  // the refused chunk is not kept
  CHECK(body.capacity() <= limit);

  // A large limit: doubling while the body needs at most 4 MiB (so no buffer above 8 MiB), then
  // one move into a buffer of the limit's size.
  const uint64_t large = uint64_t{64} << 20;
  std::string big;
  std::vector<size_t> capacities;
  while (big.size() < (uint64_t{16} << 20)) {
    REQUIRE(ossuring::http::detail::append_within(big, chunk, large).ok());
    if (capacities.empty() || capacities.back() != big.capacity()) {
      capacities.push_back(big.capacity());
    }
  }
  CHECK(capacities.back() == large);
  for (size_t c : capacities) {
    CHECK((c <= (uint64_t{8} << 20) || c == large));
  }
}

TEST_CASE("a Content-Length above max_body is refused when the head arrives") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_server(nullptr, [mode](test_env& env) -> task<void> {
      client_options o = options(mode);
      o.first_byte_timeout = 2s;  // a client that waited for the body would time out instead
      auto c = make_client(env.ep(false), o);
      const auto t0 = std::chrono::steady_clock::now();
      result<response> r = co_await get(*c, "/announce/2147483648");
      REQUIRE_FALSE(r.ok());
      CHECK(r.err().code == EMSGSIZE);
      CHECK(r.err().message.find("2147483648") != std::string::npos);
      CHECK(std::chrono::steady_clock::now() - t0 < 1s);
      result<response> ok = co_await get(*c, "/size/100");
      CHECK(ok.ok());
      co_await c->close();
    });
  }
}
