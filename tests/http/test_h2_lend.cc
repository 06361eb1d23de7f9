// HTTP/2 response bodies lent in place (body_lender, nghttp2's NO_COPY DATA frames): bytes arrive
// whole and in order, interleaved with pulled ones, and every lent byte is returned exactly once,
// after it was sent or when the output is abandoned.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/http/h2_wire.hh"

using namespace ossuring;
using namespace ossuring::http;
using namespace ossuring::http::test;

namespace {

// A body of which the first `pulled_prefix` bytes are pulled (copied) and the rest lent, at most
// `piece` bytes per peek (the emulator lends 64 KiB pieces). Returned bytes are overwritten at
// once: a session that sent lent bytes after returning them would deliver garbage.
class test_lender final : public body_lender {
 public:
  test_lender(size_t size, int seed, size_t pulled_prefix, size_t piece)
      : _body(pattern_string(size, seed)), _prefix(pulled_prefix), _piece(piece) {}

  lendable peek() override {
    if (_pos < _prefix) {
      return {};
    }
    size_t n = std::min(_piece, _body.size() - _pos);
    return {std::span<const char>(_body.data() + _pos, n), _pos + n == _body.size()};
  }
  void take(size_t n) override {
    CHECK(_pos >= _prefix);
    _pos += n;
    taken += n;
  }
  void returned(size_t n) override {
    REQUIRE(returned_bytes + n <= taken);
    std::fill_n(_body.data() + _returned_end, n, '\xee');
    _returned_end += n;
    returned_bytes += n;
  }
  // Serves the prefix only: past it every peek lends at least 64 KiB or the end, which the
  // session must take in place.
  body_pull pull() {
    return [this](std::span<char> buf) -> result<body_chunk> {
      REQUIRE(_pos < _prefix);
      size_t n = std::min(buf.size(), _prefix - _pos);
      std::copy_n(_body.data() + _pos, n, buf.data());
      _pos += n;
      return body_chunk{n, _pos == _body.size(), false};
    };
  }

  size_t taken = 0;
  size_t returned_bytes = 0;

 private:
  std::string _body;
  size_t _prefix;
  size_t _piece;
  size_t _pos = 0;
  size_t _returned_end = _prefix;  // lent bytes before this are returned
};

}  // namespace

TEST_SUITE("h2 lent bodies") {
  TEST_CASE("lent and pulled bytes of many streams arrive whole; lent ones return once sent") {
    constexpr int streams = 6;
    for (uint32_t frame : {16384u, 256u << 10}) {
      // `limit`: the "socket" takes at most that many server bytes a write, so a write ends
      // inside lent pieces and inside the batch; npos: every gathered output at once.
      for (size_t limit : {size_t{7000}, std::string::npos}) {
        CAPTURE(frame);
        CAPTURE(limit);
        std::vector<std::unique_ptr<test_lender>> lenders;
        h2_server_options so;
        wire* w_ptr = nullptr;
        so.on_request = [&](int32_t id, request) {
          size_t i = lenders.size();
          // Sizes and prefixes differ per stream: 0..5 pulled bytes before lending starts.
          auto l = std::make_unique<test_lender>(300'000 + i * 77'777, static_cast<int>(i),
                                                 i * 1000, 64 * 1024);
          REQUIRE(w_ptr->server->respond(id, 200, {}, l->pull(), l.get()).ok());
          lenders.push_back(std::move(l));
        };
        h2_client_options co;
        co.settings.max_frame_size = frame;
        wire w(std::move(so), std::move(co));
        w_ptr = &w;
        std::map<int, client_stream> got;
        for (int i = 0; i < streams; ++i) {
          REQUIRE(
              w.client->submit(make_request("GET", "/o" + std::to_string(i)), record(got[i])).ok());
        }
        for (bool moved = true; moved;) {
          moved = w.client_to_server();
          auto out = w.server->output_pieces();
          REQUIRE(out.ok());
          std::string wire_bytes;
          for (std::span<const char> p : *out) {
            wire_bytes.append(p.data(), p.size());
          }
          CHECK(wire_bytes.size() == w.server->output_bytes());
          if (!wire_bytes.empty()) {
            std::string_view sent = std::string_view(wire_bytes).substr(0, limit);
            REQUIRE(w.client->feed(sent).ok());
            w.server->consume_output(sent.size());
            moved = true;
          }
        }
        REQUIRE(lenders.size() == streams);
        for (int i = 0; i < streams; ++i) {
          CAPTURE(i);
          REQUIRE(got[i].closed.has_value());
          CHECK(got[i].closed->ok());
          CHECK(got[i].body == pattern_string(300'000 + i * 77'777, i));
          CHECK(lenders[i]->taken > 200'000);  // most of the body went out lent
          CHECK(lenders[i]->returned_bytes == lenders[i]->taken);
        }
      }
    }
  }

  TEST_CASE("abandoned output returns every lent byte not yet sent") {
    std::unique_ptr<test_lender> lender;
    h2_server_options so;
    wire* w_ptr = nullptr;
    so.on_request = [&](int32_t id, request) {
      lender = std::make_unique<test_lender>(1 << 20, 5, 0, 64 * 1024);
      REQUIRE(w_ptr->server->respond(id, 200, {}, lender->pull(), lender.get()).ok());
    };
    wire w(std::move(so));
    w_ptr = &w;
    client_stream got;
    REQUIRE(w.client->submit(make_request("GET", "/big"), record(got)).ok());
    // The request reaches the server; nothing of the server's goes back.
    while (w.client_to_server()) {
    }
    auto out = w.server->output_pieces();
    REQUIRE(out.ok());
    REQUIRE(lender != nullptr);
    REQUIRE(lender->taken > 0);
    // Part of the output is sent; the rest never will be.
    size_t first = (*out)[0].size();
    w.server->consume_output(first);
    CHECK(lender->returned_bytes < lender->taken);
    w.server->abandon_output();
    CHECK(lender->returned_bytes == lender->taken);
    CHECK(w.server->output_bytes() == 0);
  }
}
