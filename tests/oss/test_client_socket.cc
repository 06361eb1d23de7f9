// oss_client over the real socket client (http::make_client) and the emulator served by
// http::server on loopback, in one reactor, over HTTP/1.1 and h2c: listings, byte-exact reads,
// uploads, concurrent GETs and the emulator's faults (retries counted at the emulator); over TLS,
// session resumption.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "core/gate.hh"
#include "core/net.hh"
#include "core/reactor.hh"
#include "http/oss/client.hh"
#include "http/oss/crc64.hh"
#include "http/server.hh"
#include "tests/core/support.hh"
#include "tests/http/client_support.hh"
#include "tools/emu/content.hh"
#include "tools/emu/serve.hh"

using namespace ossuring;

namespace {

constexpr std::string_view key_id = "LTAI5tSocketTest";
constexpr std::string_view secret = "socket-secret";
constexpr uint64_t big_size = 5u << 20;

emu::handler_config emu_config() {
  emu::handler_config cfg;
  cfg.buckets.push_back({"rw-bucket", emu::make_memory_store()});
  auto syn = emu::make_synthetic_store("imagenet:5:300:2KiB");  // 1,500 objects
  REQUIRE(syn.ok());
  cfg.buckets.push_back({"syn", *syn});
  auto big = emu::make_synthetic_store("big:5MiB:blob.bin");
  REQUIRE(big.ok());
  cfg.buckets.push_back({"big", *big});
  cfg.auth.keys.push_back({std::string(key_id), std::string(secret), "", 0});
  return cfg;
}

struct env {
  emu::handler* server = nullptr;
  http::client* http = nullptr;
  std::unique_ptr<oss::oss_client> client(std::string bucket) {
    oss::client_config c;
    c.bucket = std::move(bucket);
    c.endpoint = http::endpoint{"127.0.0.1", port, tls};
    c.region = "cn-hangzhou";
    c.retry.max_attempts = 10;
    c.retry.base_delay = std::chrono::milliseconds(1);
    c.retry.max_delay = std::chrono::milliseconds(10);
    c.limiter = std::make_shared<oss::rate_limiter>(100000.0);
    auto creds =
        oss::make_static_provider(oss::credentials{std::string(key_id), std::string(secret)});
    return std::make_unique<oss::oss_client>(*http, std::move(creds), std::move(c));
  }
  uint16_t port = 0;
  bool tls = false;
};

// Runs `body` on a fresh reactor with the emulator on 127.0.0.1:0 and a client in `mode`; with
// `tls`, the emulator listens with the test CA's certificate (ALPN h2, http/1.1).
void with_emulator(std::string mode, std::function<task<void>(env&)> body, bool tls = false) {
  test::require_io_uring();
  emu::handler h(emu_config());
  emu::http_frontend front(h);
  reactor r;
  r.run([&]() -> task<void> {
    auto addr = parse_numeric_address("127.0.0.1", 0);
    REQUIRE(addr.ok());
    auto fd = tcp_listen(*addr);
    REQUIRE(fd.ok());
    env e;
    e.server = &h;
    e.port = local_address(fd->get()).port();
    e.tls = tls;
    http::server_options so;
    if (tls) {
      so.tls = http::test_client::server_tls({"h2", "http/1.1"});
    }
    so.on_connect = front.on_connect();
    so.on_disconnect = front.on_disconnect();
    http::server srv(std::move(*fd), so, front.make_handler(false));
    gate g;
    g.spawn(srv.serve());
    http::client_options o;
    o.http = mode;
    if (tls) {
      o = http::test_client::options(mode);  // trusts the test CA
    }
    auto c = http::make_client(http::endpoint{"127.0.0.1", e.port, tls}, o);
    e.http = c.get();
    co_await body(e);
    co_await c->close();
    co_await srv.stop();
    co_await g.close();
  }());
}

task<result<oss::get_result>> read_into(oss::oss_client& c, std::string key, uint64_t offset,
                                        std::optional<uint64_t> length, std::string& buf) {
  oss::get_request req{.key = std::move(key), .offset = offset, .length = length};
  co_return co_await c.get_object(req, {reinterpret_cast<std::byte*>(buf.data()), buf.size()});
}

// A bare HTTP/1.1 server on its own thread: answers the first request of each of the
// connections it accepts with the next of `answers`, byte for byte, then closes the connection.
class raw_server {
 public:
  explicit raw_server(std::vector<std::string> answers) {
    _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(_fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(_fd, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
    _thread = std::thread([this, answers = std::move(answers)] {
      for (const std::string& answer : answers) {
        int c = ::accept4(_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
          return;
        }
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) {
            break;
          }
          req.append(buf, static_cast<size_t>(n));
        }
        for (size_t at = 0; at < answer.size();) {
          ssize_t n = ::send(c, answer.data() + at, answer.size() - at, MSG_NOSIGNAL);
          if (n <= 0) {
            break;
          }
          at += static_cast<size_t>(n);
        }
        ::shutdown(c, SHUT_WR);
        while (::recv(c, buf, sizeof buf, 0) > 0) {
        }
        ::close(c);
      }
    });
  }
  ~raw_server() {
    ::shutdown(_fd, SHUT_RDWR);  // a client that stopped early: accept() returns
    _thread.join();
    ::close(_fd);
  }
  uint16_t port = 0;

 private:
  int _fd = -1;
  std::thread _thread;
};

std::string raw_head(std::string_view body, std::string_view framing) {
  return "HTTP/1.1 200 OK\r\nETag: \"E1\"\r\nx-oss-request-id: raw-1\r\n"
         "x-oss-hash-crc64ecma: " +
         std::to_string(oss::crc64(body)) + "\r\n" + std::string(framing) + "\r\n";
}

}  // namespace

TEST_CASE("over sockets: listings, byte-exact reads and uploads, HTTP/1.1 and h2c") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_emulator(mode, [](env& e) -> task<void> {
      auto syn = e.client("syn");
      oss::list_request lr{.prefix = "train/"};
      size_t keys = 0;
      int pages = 0;
      for (;;) {
        auto p = co_await syn->list_objects_v2(lr);
        REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.err().describe()));
        keys += p->objects.size();
        ++pages;
        if (!p->truncated) {
          break;
        }
        lr.continuation_token = p->next_continuation_token;
      }
      CHECK(keys == 1500);
      CHECK(pages == 2);

      auto big = e.client("big");
      std::string whole(big_size, '\0');
      auto w = co_await read_into(*big, "blob.bin", 0, std::nullopt, whole);
      REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.err().describe()));
      CHECK(w->crc64 == emu::synthetic_crc64("blob.bin", big_size));
      CHECK(whole == emu::content_bytes("blob.bin", big_size, 0, big_size));
      std::string part(300000, '\0');
      auto pr = co_await read_into(*big, "blob.bin", 777777, part.size(), part);
      REQUIRE(pr.ok());
      CHECK(part == emu::content_bytes("blob.bin", big_size, 777777, part.size()));

      auto rw = e.client("rw-bucket");
      std::string data(3u << 20, 'd');
      for (size_t i = 0; i < data.size(); i += 4096) {
        data[i] = static_cast<char>(i / 4096);
      }
      auto put = co_await rw->put_object(
          "up/file bin", {reinterpret_cast<const std::byte*>(data.data()), data.size()});
      REQUIRE_MESSAGE(put.ok(), (put.ok() ? "" : put.err().describe()));
      std::string back(data.size(), '\0');
      auto got = co_await read_into(*rw, "up/file bin", 0, std::nullopt, back);
      REQUIRE(got.ok());
      CHECK(back == data);
      auto head = co_await rw->head_object("up/missing");
      REQUIRE(!head.ok());
      CHECK(head.err().code == ENOENT);
      CHECK(!head.err().request_id.empty());
    });
  }
}

TEST_CASE("over sockets: concurrent ranged GETs under resets and 503s are all byte-exact") {
  for (std::string mode : {"1.1", "2"}) {
    CAPTURE(mode);
    with_emulator(mode, [](env& e) -> task<void> {
      emu::fault_config f;
      emu::fault_rule reset;
      reset.kind = emu::fault_kind::reset_after_bytes;
      reset.rate = 0.2;
      reset.bytes = 10000;
      emu::fault_rule unavailable;
      unavailable.kind = emu::fault_kind::http_503;
      unavailable.rate = 0.1;
      f.rules = {reset, unavailable};
      e.server->fault_model().configure(f);
      auto big = e.client("big");
      int good = 0;
      gate g;
      for (int i = 0; i < 16; ++i) {
        g.spawn([](oss::oss_client& c, int i, int& good) -> task<void> {
          uint64_t off = static_cast<uint64_t>(i) * 300001;
          std::string buf(200000, '\0');
          auto r = co_await read_into(c, "blob.bin", off, buf.size(), buf);
          if (r.ok() && buf == emu::content_bytes("blob.bin", big_size, off, buf.size())) {
            ++good;
          }
        }(*big, i, good));
      }
      co_await g.close();
      CHECK(good == 16);
      const emu::counters& s = e.server->stats();
      CHECK(s.requests(emu::api::get_object) > 16);  // some were retried
      CHECK(s.requests(emu::api::get_object) == 16 + s.faults(emu::fault_kind::reset_after_bytes) +
                                                    s.faults(emu::fault_kind::http_503));
    });
  }
}

TEST_CASE("over TLS to the emulator: a second connection resumes the first one's session") {
  for (std::string mode : {"1.1", "auto"}) {
    CAPTURE(mode);
    with_emulator(
        mode,
        [](env& e) -> task<void> {
          auto big = e.client("big");
          std::string first(1000, '\0');
          REQUIRE((co_await read_into(*big, "blob.bin", 0, first.size(), first)).ok());
          CHECK(e.http->stats().connections_opened == 1);
          CHECK(e.http->stats().tls_sessions_resumed == 0);
          // Concurrent reads need a second connection (HTTP/1.1: one per request; HTTP/2: the
          // pool grows to h2_connections in the background); it offers the cached session.
          for (int round = 0; round < 40 && e.http->stats().connections_opened < 2; ++round) {
            int good = 0;
            gate g;
            for (int i = 0; i < 8; ++i) {
              g.spawn([](oss::oss_client& c, int i, int& good) -> task<void> {
                std::string buf(100000, '\0');
                uint64_t off = static_cast<uint64_t>(i) * 100000;
                auto r = co_await read_into(c, "blob.bin", off, buf.size(), buf);
                good += r.ok() && buf == emu::content_bytes("blob.bin", big_size, off, buf.size());
              }(*big, i, good));
            }
            co_await g.close();
            CHECK(good == 8);
            co_await sleep_for(std::chrono::milliseconds(50));
          }
          http::client_stats s = e.http->stats();
          CHECK(s.connections_opened >= 2);
          CHECK(s.tls_sessions_resumed == s.connections_opened - 1);
        },
        true);
  }
}

TEST_CASE("over a socket: a whole-object GET answered chunked or close-delimited is read whole") {
  test::require_io_uring();
  std::string body(300000, '\0');
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>((i * 7919) >> 5);
  }
  std::string chunked = raw_head(body, "Transfer-Encoding: chunked\r\nConnection: close\r\n");
  for (size_t at = 0; at < body.size();) {
    size_t n = std::min<size_t>(body.size() - at, 1000 + at % 70000);
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    chunked += size_line;
    chunked.append(body, at, n);
    chunked += "\r\n";
    at += n;
  }
  chunked += "0\r\n\r\n";
  std::string until_close = raw_head(body, "") + body;
  raw_server srv({chunked, until_close});
  reactor r;
  r.run([&]() -> task<void> {
    http::client_options o;
    o.http = "1.1";
    auto h = http::make_client(http::endpoint{"127.0.0.1", srv.port, false}, o);
    oss::client_config cc;
    cc.bucket = "b";
    cc.endpoint = http::endpoint{"127.0.0.1", srv.port, false};
    cc.region = "cn-hangzhou";
    cc.retry.max_attempts = 1;
    auto creds =
        oss::make_static_provider(oss::credentials{std::string(key_id), std::string(secret)});
    oss::oss_client c(*h, std::move(creds), std::move(cc));
    for (const char* framing : {"chunked", "until close"}) {
      CAPTURE(framing);
      std::string buf(body.size(), '\0');
      auto got = co_await read_into(c, "k", 0, std::nullopt, buf);
      CHECK_MESSAGE(got.ok(), (got.ok() ? "" : got.err().describe()));
      if (!got.ok()) {
        continue;
      }
      CHECK(got->bytes == body.size());
      CHECK(got->crc64 == oss::crc64(body));
      CHECK(buf == body);
    }
    co_await h->close();
  }());
}
