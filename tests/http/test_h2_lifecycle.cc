// HTTP/2 sessions back to back through memory: stream and connection lifecycle (GOAWAY, cancel,
// resets, PING, shutdown, lost connections, bad prefaces).
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
