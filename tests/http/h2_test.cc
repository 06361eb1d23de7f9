// Tests for the HTTP/2 client and server sessions wired back to back through memory buffers.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/h2_client.hh"
#include "http/h2_server.hh"

using namespace ossuring;
using namespace ossuring::http;

namespace {

char pattern(uint64_t offset, int seed) {
  return static_cast<char>((offset * 31 + static_cast<uint64_t>(seed) * 7 + (offset >> 8)) & 0xff);
}

std::string pattern_string(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = pattern(i, seed);
  }
  return s;
}

// A synthetic body of `size` bytes generated on demand, never materialised.
body_pull synthetic_body(uint64_t size, int seed) {
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

h2_stream_callbacks record(client_stream& cs) {
  h2_stream_callbacks cbs;
  cbs.on_head = [&cs](response& r) { cs.head = r; };
  cbs.on_data = [&cs](std::span<const char> b) -> status {
    cs.body.append(b.data(), b.size());
    return {};
  };
  cbs.on_close = [&cs](status s) { cs.closed = std::move(s); };
  return cbs;
}

request make_request(std::string method, std::string target) {
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

  // Moves bytes both ways until neither side has anything to send.
  void pump() {
    while (true) {
      bool moved = false;
      result<std::string_view> c = client->output();
      REQUIRE(c.ok());
      if (!c->empty()) {
        REQUIRE(server->feed(*c).ok());
        client->consume_output(c->size());
        moved = true;
      }
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

}  // namespace

TEST_SUITE("h2 sessions") {
  TEST_CASE("100 concurrent streams with request and response bodies arrive byte for byte") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    so.on_request = [&](int32_t id, request req) {
      // Echo the request body, then append a synthetic body whose length the client chose.
      size_t extra = std::stoul(std::string(req.headers.get("x-extra")));
      if (!req.body.empty()) {
        CHECK(req.headers.get("content-length") == std::to_string(req.body.size()));
      }
      std::string echoed = std::move(req.body);
      auto synthetic = synthetic_body(extra, id);
      auto echo_pos = std::make_shared<size_t>(0);
      body_pull pull = [echoed, echo_pos, synthetic](std::span<char> buf) -> result<body_chunk> {
        if (*echo_pos < echoed.size()) {
          size_t n = std::min(buf.size(), echoed.size() - *echo_pos);
          std::memcpy(buf.data(), echoed.data() + *echo_pos, n);
          *echo_pos += n;
          return body_chunk{n, false, false};
        }
        return synthetic(buf);
      };
      header_list h;
      h.add("x-path", req.target);
      REQUIRE(w_ptr->server->respond(id, 200, h, std::move(pull)).ok());
    };
    wire w(std::move(so));
    w_ptr = &w;
    w.pump();  // SETTINGS exchange
    CHECK(w.client->available_streams() == 100);

    std::map<int, client_stream> streams;  // by request index; nodes stay put
    std::map<int32_t, int> index_of;
    for (int i = 0; i < 100; ++i) {
      request req = make_request("PUT", "/obj-" + std::to_string(i));
      req.headers.add("X-Extra", std::to_string(1000 + i * 1237));
      req.body = pattern_string(static_cast<size_t>(i) * 911, 1000 + i);
      result<int32_t> id = w.client->submit(req, record(streams[i]));
      REQUIRE(id.ok());
      index_of[*id] = i;
    }
    CHECK(w.client->available_streams() == 0);
    CHECK(w.client->open_streams() == 100);
    w.pump();
    for (auto& [id, i] : index_of) {
      client_stream& cs = streams[i];
      CAPTURE(i);
      REQUIRE(cs.closed.has_value());
      CHECK(cs.closed->ok());
      REQUIRE(cs.head.has_value());
      CHECK(cs.head->status == 200);
      CHECK(cs.head->headers.get("x-path") == "/obj-" + std::to_string(i));
      std::string expected = pattern_string(static_cast<size_t>(i) * 911, 1000 + i) +
                             pattern_string(1000 + static_cast<size_t>(i) * 1237, id);
      CHECK(cs.body == expected);
    }
    CHECK(w.client->open_streams() == 0);
    CHECK(w.client->available_streams() == 100);
  }

  TEST_CASE("a 32 MiB body streams through flow control windows") {
    constexpr uint64_t size = 32u << 20;
    for (uint32_t window : {16u << 20, 65535u}) {
      CAPTURE(window);
      h2_server_options so;
      wire* w_ptr = nullptr;
      so.on_request = [&](int32_t id, request) {
        REQUIRE(w_ptr->server->respond(id, 200, {}, synthetic_body(size, 5)).ok());
      };
      h2_client_options co;
      co.settings.initial_window_size = window;
      co.settings.connection_window_size = window;
      wire w(std::move(so), std::move(co));
      w_ptr = &w;
      uint64_t received = 0;
      bool mismatch = false;
      std::optional<status> closed;
      h2_stream_callbacks cbs;
      cbs.on_data = [&](std::span<const char> b) -> status {
        for (char c : b) {
          mismatch |= c != pattern(received++, 5);
        }
        return {};
      };
      cbs.on_close = [&](status s) { closed = std::move(s); };
      REQUIRE(w.client->submit(make_request("GET", "/big"), std::move(cbs)).ok());
      w.pump();
      REQUIRE(closed.has_value());
      CHECK(closed->ok());
      CHECK(received == size);
      CHECK_FALSE(mismatch);  // completing at all proves WINDOW_UPDATEs reopened the windows
    }
  }

  TEST_CASE("large DATA frames, or 16 KiB ones for a peer that asks, arrive whole") {
    constexpr uint64_t size = 4u << 20;
    for (uint32_t frame : {16384u, 256u << 10}) {
      // The "socket" takes at most `limit` server bytes per write: a large frame that output()
      // hands out from nghttp2's buffer is then consumed in pieces and asked for again.
      for (size_t limit : {size_t{7000}, std::string_view::npos}) {
        CAPTURE(frame);
        CAPTURE(limit);
        h2_server_options so;
        wire* w_ptr = nullptr;
        so.on_request = [&](int32_t id, request) {
          REQUIRE(w_ptr->server->respond(id, 200, {}, synthetic_body(size, 9)).ok());
        };
        h2_client_options co;
        co.settings.max_frame_size = frame;  // what the server may send us
        wire w(std::move(so), std::move(co));
        w_ptr = &w;
        uint64_t received = 0;
        size_t largest_chunk = 0;
        bool mismatch = false;
        std::optional<status> closed;
        h2_stream_callbacks cbs;
        cbs.on_data = [&](std::span<const char> b) -> status {
          largest_chunk = std::max(largest_chunk, b.size());
          for (char c : b) {
            mismatch |= c != pattern(received++, 9);
          }
          return {};
        };
        cbs.on_close = [&](status s) { closed = std::move(s); };
        REQUIRE(w.client->submit(make_request("GET", "/big"), std::move(cbs)).ok());
        for (bool moved = true; moved;) {
          moved = false;
          result<std::string_view> c = w.client->output();
          REQUIRE(c.ok());
          if (!c->empty()) {
            REQUIRE(w.server->feed(*c).ok());
            w.client->consume_output(c->size());
            moved = true;
          }
          result<std::string_view> out = w.server->output();
          REQUIRE(out.ok());
          if (!out->empty()) {
            std::string_view piece = out->substr(0, limit);
            REQUIRE(w.client->feed(piece).ok());
            w.server->consume_output(piece.size());
            moved = true;
          }
        }
        REQUIRE(closed.has_value());
        CHECK(closed->ok());  // a frame above the client's limit would be a FRAME_SIZE_ERROR
        CHECK(received == size);
        CHECK_FALSE(mismatch);
        if (limit == std::string_view::npos) {
          // Whole frames reach the client: one data chunk per frame.
          CHECK(largest_chunk == frame);
        }
      }
    }
  }

  TEST_CASE("in-order requests get their responses one after another, others interleave") {
    for (bool in_order : {true, false}) {
      CAPTURE(in_order);
      constexpr uint64_t size = 1u << 20;
      h2_server_options so;
      wire* w_ptr = nullptr;
      so.on_request = [&](int32_t id, request) {
        REQUIRE(w_ptr->server->respond(id, 200, {}, synthetic_body(size, 3)).ok());
      };
      wire w(std::move(so));
      w_ptr = &w;
      // The stream index of each DATA chunk, in arrival order.
      std::vector<int> arrivals;
      std::vector<uint64_t> received(3, 0);
      std::vector<std::optional<status>> closed(3);
      for (int i = 0; i < 3; ++i) {
        h2_stream_callbacks cbs;
        cbs.on_data = [&, i](std::span<const char> b) -> status {
          arrivals.push_back(i);
          received[i] += b.size();
          return {};
        };
        cbs.on_close = [&, i](status st) { closed[i] = std::move(st); };
        request req = make_request("GET", "/page-" + std::to_string(i));
        req.in_order = in_order;
        REQUIRE(w.client->submit(req, std::move(cbs)).ok());
      }
      w.pump();
      for (int i = 0; i < 3; ++i) {
        REQUIRE(closed[i].has_value());
        CHECK(closed[i]->ok());
        CHECK(received[i] == size);
      }
      bool sequential = std::is_sorted(arrivals.begin(), arrivals.end());
      CHECK(sequential == in_order);
    }
  }

  TEST_CASE("a deferred response body resumes when data becomes available") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    int32_t server_stream = 0;
    bool available = false;
    so.on_request = [&](int32_t id, request) {
      server_stream = id;
      auto sent = std::make_shared<bool>(false);
      body_pull pull = [&available, sent](std::span<char> buf) -> result<body_chunk> {
        if (!available) {
          return body_chunk{0, false, true};
        }
        std::memcpy(buf.data(), "late", 4);
        *sent = true;
        return body_chunk{4, true, false};
      };
      REQUIRE(w_ptr->server->respond(id, 200, {}, std::move(pull)).ok());
    };
    wire w(std::move(so));
    w_ptr = &w;
    client_stream cs;
    REQUIRE(w.client->submit(make_request("GET", "/slow"), record(cs)).ok());
    w.pump();
    CHECK(cs.head.has_value());
    CHECK(cs.body.empty());
    CHECK_FALSE(cs.closed.has_value());
    available = true;
    REQUIRE(w.server->resume(server_stream).ok());
    w.pump();
    REQUIRE(cs.closed.has_value());
    CHECK(cs.closed->ok());
    CHECK(cs.body == "late");
  }

  TEST_CASE("GOAWAY completes streams up to last_stream_id and refuses the rest") {
    h2_server_options so;
    std::vector<int32_t> received;
    so.on_request = [&](int32_t id, request) { received.push_back(id); };
    int32_t goaway_last = -1;
    h2_client_options co;
    co.events.on_goaway = [&](int32_t last, uint32_t) { goaway_last = last; };
    wire w(std::move(so), std::move(co));
    client_stream a, b, c;
    REQUIRE(w.client->submit(make_request("GET", "/a"), record(a)).ok());
    REQUIRE(w.client->submit(make_request("GET", "/b"), record(b)).ok());
    REQUIRE(w.client->submit(make_request("GET", "/c"), record(c)).ok());
    w.pump();
    REQUIRE(received.size() == 3);
    REQUIRE(w.server->goaway(NGHTTP2_NO_ERROR, received[0]).ok());
    REQUIRE(w.server->respond(received[0], 200, {}, body_from_string("first")).ok());
    w.pump();
    CHECK(goaway_last == received[0]);
    CHECK(w.client->goaway_received());
    REQUIRE(a.closed.has_value());
    CHECK(a.closed->ok());
    CHECK(a.body == "first");
    for (client_stream* refused : {&b, &c}) {
      REQUIRE(refused->closed.has_value());
      REQUIRE_FALSE(refused->closed->ok());
      CHECK(refused->closed->err().code == EAGAIN);
    }
    CHECK(w.client->available_streams() == 0);
    client_stream d;
    result<int32_t> late = w.client->submit(make_request("GET", "/d"), record(d));
    REQUIRE_FALSE(late.ok());
    CHECK(late.err().code == EAGAIN);
  }

  TEST_CASE("cancel sends RST_STREAM and silences the stream's callbacks") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    std::vector<std::pair<int32_t, uint32_t>> server_closed;
    so.on_request = [&](int32_t id, request) {
      REQUIRE(w_ptr->server->respond(id, 200, {}, synthetic_body(8u << 20, 1)).ok());
    };
    so.on_stream_close = [&](int32_t id, uint32_t code) { server_closed.emplace_back(id, code); };
    h2_client_options co;
    co.settings.initial_window_size = 65535;  // the body cannot finish before the cancel lands
    wire w(std::move(so), std::move(co));
    w_ptr = &w;
    int data_calls = 0;
    bool closed = false;
    int32_t id = 0;
    h2_stream_callbacks cbs;
    cbs.on_data = [&](std::span<const char>) -> status {
      ++data_calls;
      w.client->cancel(id);  // from inside the stream's own callback
      return {};
    };
    cbs.on_close = [&](status) { closed = true; };
    result<int32_t> submitted = w.client->submit(make_request("GET", "/cancel"), std::move(cbs));
    REQUIRE(submitted.ok());
    id = *submitted;
    w.pump();
    CHECK(data_calls == 1);
    CHECK_FALSE(closed);
    REQUIRE(server_closed.size() == 1);
    CHECK(server_closed[0].first == id);
    CHECK(server_closed[0].second == NGHTTP2_CANCEL);
    CHECK(w.client->open_streams() == 0);
  }

  TEST_CASE("a failing body sink resets the stream and reports the sink's error") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    uint32_t server_code = 0;
    so.on_request = [&](int32_t id, request) {
      REQUIRE(w_ptr->server->respond(id, 200, {}, synthetic_body(1u << 20, 1)).ok());
    };
    so.on_stream_close = [&](int32_t, uint32_t code) { server_code = code; };
    wire w(std::move(so));
    w_ptr = &w;
    std::optional<status> closed;
    h2_stream_callbacks cbs;
    cbs.on_data = [](std::span<const char>) -> status { return make_error(ENOSPC, "buffer full"); };
    cbs.on_close = [&](status s) { closed = std::move(s); };
    REQUIRE(w.client->submit(make_request("GET", "/x"), std::move(cbs)).ok());
    w.pump();
    REQUIRE(closed.has_value());
    REQUIRE_FALSE(closed->ok());
    CHECK(closed->err().code == ENOSPC);
    CHECK(server_code == NGHTTP2_CANCEL);
  }

  TEST_CASE("a server reset reaches the client as ECONNRESET") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    so.on_request = [&](int32_t id, request) {
      REQUIRE(w_ptr->server->reset_stream(id, NGHTTP2_INTERNAL_ERROR).ok());
    };
    wire w(std::move(so));
    w_ptr = &w;
    client_stream cs;
    REQUIRE(w.client->submit(make_request("GET", "/x"), record(cs)).ok());
    w.pump();
    REQUIRE(cs.closed.has_value());
    REQUIRE_FALSE(cs.closed->ok());
    CHECK(cs.closed->err().code == ECONNRESET);
    CHECK(cs.closed->err().message.find("INTERNAL_ERROR") != std::string::npos);
  }

  TEST_CASE("PING is acknowledged and a HEAD-like response without body completes") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    so.on_request = [&](int32_t id, request req) {
      CHECK(req.method == "HEAD");
      CHECK(req.authority == "bucket.oss.localhost");
      header_list h;
      h.add("Content-Length", "42");
      REQUIRE(w_ptr->server->respond(id, 200, h).ok());
    };
    bool acked = false;
    h2_client_options co;
    co.events.on_ping_ack = [&] { acked = true; };
    wire w(std::move(so), std::move(co));
    w_ptr = &w;
    REQUIRE(w.client->ping().ok());
    client_stream cs;
    REQUIRE(w.client->submit(make_request("HEAD", "/k"), record(cs)).ok());
    w.pump();
    CHECK(acked);
    REQUIRE(cs.closed.has_value());
    CHECK(cs.closed->ok());
    CHECK(cs.head->headers.get("content-length") == "42");
    CHECK(cs.body.empty());
  }

  TEST_CASE("garbage instead of the client preface is a connection error") {
    auto s = h2_server_session::create({});
    REQUIRE(s.ok());
    status st = (*s)->feed(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_FALSE(st.ok());
  }
}

TEST_SUITE("h2 sessions") {
  TEST_CASE("fail_all reports a lost connection to every open stream and blocks new requests") {
    h2_server_options so;  // never answers
    wire w(std::move(so));
    client_stream a, b;
    REQUIRE(w.client->submit(make_request("GET", "/a"), record(a)).ok());
    REQUIRE(w.client->submit(make_request("PUT", "/b"), record(b), body_from_string("x")).ok());
    w.pump();
    w.client->fail_all(make_error(ECONNRESET, "connection lost"));
    for (client_stream* cs : {&a, &b}) {
      REQUIRE(cs->closed.has_value());
      REQUIRE_FALSE(cs->closed->ok());
      CHECK(cs->closed->err().code == ECONNRESET);
    }
    CHECK(w.client->open_streams() == 0);
    CHECK(w.client->available_streams() == 0);
    client_stream c;
    CHECK_FALSE(w.client->submit(make_request("GET", "/c"), record(c)).ok());
  }
}

TEST_SUITE("h2 sessions") {
  TEST_CASE("manual flow control stalls the sender until the client consumes") {
    constexpr size_t size = 1u << 20;
    h2_server_options so;
    wire* w_ptr = nullptr;
    so.on_request = [&](int32_t id, request) {
      REQUIRE(w_ptr->server->respond(id, 200, {}, synthetic_body(size, 9)).ok());
    };
    h2_client_options co;
    co.settings.manual_flow_control = true;
    co.settings.initial_window_size = 65535;
    co.settings.connection_window_size = 65535;
    wire w(std::move(so), std::move(co));
    w_ptr = &w;
    std::string body;
    std::optional<status> closed;
    h2_stream_callbacks cbs;
    cbs.on_data = [&](std::span<const char> b) -> status {
      body.append(b.data(), b.size());
      return {};
    };
    cbs.on_close = [&](status s) { closed = std::move(s); };
    result<int32_t> id = w.client->submit(make_request("GET", "/bp"), std::move(cbs));
    REQUIRE(id.ok());
    w.pump();
    CHECK(body.size() == 65535);  // exactly one window, then the server must wait
    CHECK_FALSE(closed.has_value());
    w.pump();
    CHECK(body.size() == 65535);
    size_t consumed = 0;
    for (int i = 0; i < 1000 && !closed; ++i) {
      REQUIRE(w.client->consume(*id, body.size() - consumed).ok());
      consumed = body.size();
      w.pump();
    }
    REQUIRE(closed.has_value());
    CHECK(closed->ok());
    CHECK(body == pattern_string(size, 9));
  }
}

TEST_SUITE("h2 sessions") {
  TEST_CASE("a deferred request body resumes and arrives whole at the server") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    std::string received;
    so.on_request = [&](int32_t id, request req) {
      received = req.body;
      REQUIRE(w_ptr->server->respond(id, 204, {}).ok());
    };
    wire w(std::move(so));
    w_ptr = &w;
    std::string pending;  // filled later, as a page cache would
    body_pull pull = [&pending](std::span<char> buf) -> result<body_chunk> {
      if (pending.empty()) {
        return body_chunk{0, false, true};
      }
      size_t n = std::min(buf.size(), pending.size());
      std::memcpy(buf.data(), pending.data(), n);
      pending.erase(0, n);
      return body_chunk{n, pending.empty(), false};
    };
    client_stream cs;
    result<int32_t> id = w.client->submit(make_request("PUT", "/up"), record(cs), std::move(pull));
    REQUIRE(id.ok());
    w.pump();
    CHECK(received.empty());
    CHECK_FALSE(cs.closed.has_value());
    std::string payload = pattern_string(100000, 3);
    pending = payload;
    REQUIRE(w.client->resume(*id).ok());
    w.pump();
    REQUIRE(cs.closed.has_value());
    CHECK(cs.closed->ok());
    CHECK(cs.head->status == 204);
    CHECK(received == payload);
  }

  TEST_CASE("a shutdown notice stops new streams without failing open ones") {
    h2_server_options so;
    wire* w_ptr = nullptr;
    std::vector<int32_t> ids;
    so.on_request = [&](int32_t id, request) { ids.push_back(id); };
    wire w(std::move(so));
    w_ptr = &w;
    client_stream a;
    REQUIRE(w.client->submit(make_request("GET", "/a"), record(a)).ok());
    w.pump();
    REQUIRE(w.server->shutdown_notice().ok());
    w.pump();
    CHECK(w.client->goaway_received());
    CHECK(w.client->available_streams() == 0);
    REQUIRE(ids.size() == 1);
    REQUIRE(w_ptr->server->respond(ids[0], 200, {}, body_from_string("ok")).ok());
    w.pump();
    REQUIRE(a.closed.has_value());
    CHECK(a.closed->ok());
    CHECK(a.body == "ok");
  }
}

TEST_CASE("the h2c preface is told apart from HTTP/1.1 on a cleartext port") {
  CHECK(match_h2_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00") == preface_match::h2);
  CHECK(match_h2_preface("PRI * HTTP/2") == preface_match::need_more);
  CHECK(match_h2_preface("") == preface_match::need_more);
  CHECK(match_h2_preface("GET / HTTP/1.1\r\n") == preface_match::other);
  CHECK(match_h2_preface("PRI * HTTP/1.1") == preface_match::other);
}
