// byte_stream's gathered write over a real socket: many pieces, empty ones, more than one
// sendmsg's worth of iovecs and short sends all arrive whole and in order.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <string>
#include <vector>

#include "core/gate.hh"
#include "core/io.hh"
#include "core/reactor.hh"
#include "http/stream.hh"
#include "tests/core/support.hh"
#include "tests/http/client_support.hh"

using namespace ossuring;
using namespace ossuring::http;

namespace {

// 300 pieces of 0 to 20,000 bytes (every 7th empty), and their concatenation.
struct piece_set {
  std::vector<std::string> storage;
  std::vector<std::span<const char>> pieces;
  std::string expected;
  piece_set() {
    for (size_t i = 0; i < 300; ++i) {
      size_t size = i % 7 == 0 ? 0 : (i * 2654435761u) % 20000;
      std::string p(size, '\0');
      for (size_t j = 0; j < size; ++j) {
        p[j] = static_cast<char>((i * 31 + j * 7) & 0xff);
      }
      expected += p;
      storage.push_back(std::move(p));
    }
    for (const std::string& p : storage) {
      pieces.emplace_back(p.data(), p.size());
    }
  }
};

task<void> write_pieces(byte_stream& s, std::span<const std::span<const char>> pieces,
                        status& out) {
  out = co_await s.write_all(pieces);
  co_await s.close();
}

}  // namespace

TEST_CASE("a gathered write of 300 pieces through a small send buffer arrives in order") {
  test::require_io_uring();
  reactor r;
  r.run([]() -> task<void> {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    int small = 4096;  // the kernel doubles it; still far below one write, so sends are short
    REQUIRE(::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    byte_stream writer{unique_fd(fds[0])};
    unique_fd reader(fds[1]);

    piece_set set;
    const std::string& expected = set.expected;
    status written = make_error(EINPROGRESS, "not finished");
    gate g;
    g.spawn(write_pieces(writer, set.pieces, written));
    std::string got;
    std::vector<char> buf(8192);
    for (;;) {
      int n = co_await recv(reader.get(), buf.data(), buf.size());
      REQUIRE(n >= 0);
      if (n == 0) {
        break;
      }
      got.append(buf.data(), static_cast<size_t>(n));
    }
    co_await g.close();
    CHECK(written.ok());
    CHECK(writer.bytes_written() == expected.size());
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
  }());
}

namespace {

task<void> server_side(byte_stream& s, std::string& got, status& result) {
  result = co_await s.handshake();
  if (!result.ok()) {
    co_return;
  }
  std::vector<char> buf(16384);
  for (;;) {
    auto n = co_await s.read_some(buf);
    if (!n.ok()) {
      result = std::move(n).err();
      co_return;
    }
    if (*n == 0) {
      co_return;
    }
    got.append(buf.data(), *n);
  }
}

}  // namespace

TEST_CASE("a gathered write over TLS arrives whole, small pieces joined into records") {
  test::require_io_uring();
  reactor r;
  r.run([]() -> task<void> {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    auto server_tls = tls_session::server(test_client::server_tls({}));
    REQUIRE(server_tls.ok());
    tls_client_config cc;
    cc.ca_file = (test_client::certs().good / "ca.pem").string();
    auto client_ctx = tls_context::client(cc);
    REQUIRE(client_ctx.ok());
    auto client_tls = tls_session::client(*client_ctx, "localhost", 443);
    REQUIRE(client_tls.ok());
    byte_stream server{unique_fd(fds[0]), std::move(*server_tls)};
    byte_stream client{unique_fd(fds[1]), std::move(*client_tls)};

    std::string got;
    status served = make_error(EINPROGRESS, "not finished");
    gate g;
    g.spawn(server_side(server, got, served));
    REQUIRE((co_await client.handshake()).ok());
    // HTTP/2's shape: a 9-byte frame header before each lent body.
    std::vector<std::string> storage;
    std::vector<std::span<const char>> pieces;
    std::string expected;
    for (size_t i = 0; i < 100; ++i) {
      storage.push_back(std::string(9, static_cast<char>(i)));
      storage.push_back(std::string(20000, static_cast<char>(i * 3 + 1)));
    }
    for (const std::string& p : storage) {
      pieces.emplace_back(p.data(), p.size());
      expected += p;
    }
    const uint64_t handshake_bytes = client.bytes_written();
    status written = co_await client.write_all(pieces);
    const uint64_t sent = client.bytes_written() - handshake_bytes;
    co_await client.close();
    co_await g.close();
    CHECK(written.ok());
    CHECK(served.ok());
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
    // A TLS 1.3 record adds 22 bytes. Joined, a header rides in a record with body bytes
    // (~150 records here); a record per piece would take 300 (one per header, two per body).
    CHECK(sent < expected.size() + 200 * 22);
  }());
}
