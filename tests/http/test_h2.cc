// HTTP/2 sessions back to back through memory: bodies, flow control, frame sizes, ordering and
// deferred bodies arrive whole and in the right order.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/http/h2_wire.hh"

using namespace ossuring;
using namespace ossuring::http;
using namespace ossuring::http::test;

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
          moved = w.client_to_server();
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
}
