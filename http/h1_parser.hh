// Incremental HTTP/1.1 parsers (responses for the client, requests for the emulator) that never
// own a socket: the caller feeds received bytes, body bytes go straight to a caller sink.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hh"
#include "http/body.hh"
#include "http/message.hh"

namespace ossuring::http {

// Bounds on what a peer may make us buffer. Exceeding one is a protocol error (EMSGSIZE), never
// unbounded allocation.
struct h1_limits {
  size_t max_head_bytes = 64 * 1024;  // status/request line + all header lines
  size_t max_headers = 128;
  size_t max_chunk_line = 1024;  // chunk-size line including extensions
  size_t max_trailer_bytes = 16 * 1024;
};

// How the body of a message is delimited (RFC 9112 section 6).
enum class h1_body_kind { none, length, chunked, until_eof };

namespace detail {

// The framing state machine shared by both parsers: head accumulation, then body delivery.
class h1_framing {
 public:
  explicit h1_framing(h1_limits limits) : _limits(limits) {}

  bool head_complete() const { return _phase > phase::head; }
  bool complete() const { return _phase == phase::done; }
  h1_body_kind body_kind() const { return _kind; }
  // Declared Content-Length (valid when body_kind() == length).
  uint64_t content_length() const { return _length; }
  uint64_t body_bytes() const { return _body_bytes; }
  // Body bytes go to `sink` (pointing into the buffer given to feed(), no whole-body copy);
  // without a sink they are counted and dropped. Install it after start(), at the latest when
  // head_complete() (start() removes it).
  void set_body_sink(body_sink sink) { _sink = std::move(sink); }

 protected:
  ~h1_framing() = default;

  enum class phase {
    head,
    body_length,
    chunk_size,
    chunk_data,
    chunk_crlf,
    trailers,
    eof_body,
    done
  };

  // Feeds bytes; returns bytes consumed. Stops right after the head completes (the caller may
  // inspect it and install a sink) and right after the message completes.
  result<size_t> feed_bytes(std::span<const char> data);
  status feed_eof_bytes();
  // Called with the complete head (including its final empty line); sets _kind and _length.
  // Returns false for an interim (1xx) head: parsing continues with the next head.
  virtual result<bool> parse_head(std::string_view head) = 0;
  void reset_framing();

  h1_limits _limits;
  phase _phase = phase::head;
  h1_body_kind _kind = h1_body_kind::none;
  uint64_t _length = 0;

 private:
  result<size_t> feed_head(std::span<const char> data);
  result<size_t> feed_chunk_line(std::span<const char> data, bool trailer);
  status deliver(std::span<const char> bytes);

  std::string _head;
  std::string _line;  // partial chunk-size or trailer line
  size_t _trailer_bytes = 0;
  uint64_t _remaining = 0;  // of the current chunk or Content-Length body
  uint64_t _body_bytes = 0;
  body_sink _sink;
};

}  // namespace detail

// Parses one response at a time from a connection. Usage:
//   parser.start(method);                 // before each response: "HEAD" means no body
//   n = parser.feed(bytes)                 // repeat; consumes a prefix of `bytes`
//   if (parser.head_complete()) ...        // inspect head(), install set_body_sink()
//   if (parser.complete()) ...             // leftover bytes belong to the next response
//   parser.feed_eof()                      // the peer closed: completes an EOF-delimited body or
//                                          // reports a truncated one
// Interim 1xx responses (other than 101) are skipped; on_interim is told their status.
class h1_response_parser : public detail::h1_framing {
 public:
  explicit h1_response_parser(h1_limits limits = {}) : h1_framing(limits) {}

  // Prepares for the response to a request with `method`; clears the previous response.
  void start(std::string_view method = "GET");
  result<size_t> feed(std::span<const char> data) { return feed_bytes(data); }
  result<size_t> feed(std::string_view data) { return feed_bytes({data.data(), data.size()}); }
  result<size_t> feed(const std::string& data) { return feed(std::string_view(data)); }
  status feed_eof() { return feed_eof_bytes(); }

  // Status and headers (body stays empty: bytes go to the sink).
  const response& head() const { return _head_msg; }
  // Whether the connection may carry another request after this response.
  bool keep_alive() const { return _keep_alive; }
  void set_on_interim(std::function<void(int status)> fn) { _on_interim = std::move(fn); }

 private:
  result<bool> parse_head(std::string_view head) override;

  response _head_msg;
  bool _head_request = false;
  bool _keep_alive = true;
  std::function<void(int)> _on_interim;
};

// Parses requests for the server side (the emulator). Absolute-form targets
// ("GET http://bucket.host/key HTTP/1.1") are normalised: head().target becomes origin-form
// ("/key") and head().authority the URI's authority; otherwise authority is the Host header.
class h1_request_parser : public detail::h1_framing {
 public:
  explicit h1_request_parser(h1_limits limits = {}) : h1_framing(limits) {}

  // Clears the previous request so the next one can be parsed from the same connection.
  void start();
  result<size_t> feed(std::span<const char> data) { return feed_bytes(data); }
  result<size_t> feed(std::string_view data) { return feed_bytes({data.data(), data.size()}); }
  result<size_t> feed(const std::string& data) { return feed(std::string_view(data)); }
  status feed_eof() { return feed_eof_bytes(); }

  const request& head() const { return _head_msg; }
  // Moves the parsed head out (once complete; head() is empty afterwards).
  request take_head() { return std::move(_head_msg); }
  bool keep_alive() const { return _keep_alive; }
  // "Expect: 100-continue" was sent: answer "100 Continue" (or a final status) before the body.
  bool expects_continue() const { return _expect_continue; }

 private:
  result<bool> parse_head(std::string_view head) override;

  request _head_msg;
  bool _keep_alive = true;
  bool _expect_continue = false;
};

}  // namespace ossuring::http
