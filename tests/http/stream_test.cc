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

using namespace ossuring;
using namespace ossuring::http;

namespace {

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

    std::string expected;
    std::vector<std::string> storage;
    for (size_t i = 0; i < 300; ++i) {
      size_t size = i % 7 == 0 ? 0 : (i * 2654435761u) % 20000;  // every 7th piece is empty
      std::string p(size, '\0');
      for (size_t j = 0; j < size; ++j) {
        p[j] = static_cast<char>((i * 31 + j * 7) & 0xff);
      }
      expected += p;
      storage.push_back(std::move(p));
    }
    std::vector<std::span<const char>> pieces;
    for (const std::string& p : storage) {
      pieces.emplace_back(p.data(), p.size());
    }

    status written = make_error(EINPROGRESS, "not finished");
    gate g;
    g.spawn(write_pieces(writer, pieces, written));
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
