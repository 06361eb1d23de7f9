// Shared set-up of the HTTP/2 session tests: a client and a server session joined by
// in-memory "sockets", patterned bodies and recording callbacks.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "http/h2_client.hh"
#include "http/h2_server.hh"

namespace ossuring::http::test {

inline char pattern(uint64_t offset, int seed) {
  return static_cast<char>((offset * 31 + static_cast<uint64_t>(seed) * 7 + (offset >> 8)) & 0xff);
}

inline std::string pattern_string(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = pattern(i, seed);
  }
  return s;
}

// A synthetic body of `size` bytes generated on demand, never materialised.
inline body_pull synthetic_body(uint64_t size, int seed) {
  auto offset = std::make_shared<uint64_t>(0);
  return [=](std::span<char> buf) -> result<body_chunk> {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - *offset));
    for (size_t i = 0; i < n; ++i) {
      buf[i] = pattern(*offset + i, seed);
    }
    *offset += n;
    return body_chunk{n, *offset == size, false};
  };
}

struct client_stream {
  std::optional<response> head;
  std::string body;
  std::optional<status> closed;
};

inline h2_stream_callbacks record(client_stream& cs) {
  h2_stream_callbacks cbs;
  cbs.on_head = [&cs](response& r) { cs.head = r; };
  cbs.on_data = [&cs](std::span<const char> b) -> status {
    cs.body.append(b.data(), b.size());
    return {};
  };
  cbs.on_close = [&cs](status s) { cs.closed = std::move(s); };
  return cbs;
}

inline request make_request(std::string method, std::string target) {
  request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.authority = "bucket.oss.localhost";
  return r;
}

// A client and a server joined by in-memory "sockets".
struct wire {
  std::unique_ptr<h2_client_session> client;
  std::unique_ptr<h2_server_session> server;

  explicit wire(h2_server_options server_options, h2_client_options client_options = {}) {
    auto c = h2_client_session::create(std::move(client_options));
    REQUIRE(c.ok());
    client = std::move(*c);
    auto s = h2_server_session::create(std::move(server_options));
    REQUIRE(s.ok());
    server = std::move(*s);
  }

  // Feeds the server one piece of the client's output; false when the client had none.
  bool client_to_server() {
    result<std::string_view> c = client->output();
    REQUIRE(c.ok());
    if (c->empty()) {
      return false;
    }
    REQUIRE(server->feed(*c).ok());
    client->consume_output(c->size());
    return true;
  }

  // Moves bytes both ways until neither side has anything to send.
  void pump() {
    while (true) {
      bool moved = client_to_server();
      result<std::string_view> s = server->output();
      REQUIRE(s.ok());
      if (!s->empty()) {
        REQUIRE(client->feed(*s).ok());
        server->consume_output(s->size());
        moved = true;
      }
      if (!moved) {
        return;
      }
    }
  }
};

}  // namespace ossuring::http::test
