// Body plumbing shared by the HTTP/1.1 and HTTP/2 engines: push sinks for received bytes and
// pull sources for bytes to send, so bodies move between the wire and caller buffers directly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hh"

namespace ossuring::http {

// Receives body bytes as they are parsed, in order. The span is valid only during the call.
// Returning an error aborts the message (HTTP/1.1: feed() fails; HTTP/2: the stream is reset).
using body_sink = std::function<status(std::span<const char>)>;

// What a body source produced for one pull.
struct body_chunk {
  size_t bytes = 0;       // bytes written at the start of the buffer
  bool eof = false;       // these are the last bytes (bytes may be 0)
  bool deferred = false;  // nothing available now: call resume(stream) when there is
};

// Fills `buf` with the next body bytes. Must make progress: return bytes > 0, or eof, or
// deferred. An error resets the stream.
using body_pull = std::function<result<body_chunk>(std::span<char> buf)>;

// A body source that can lend its bytes in place, so HTTP/2 sends them without copying them into
// DATA frames (nghttp2's NO_COPY path). Asked before each frame; what it does not lend is pulled.
// Bytes taken stay valid and unchanged until returned() gives them back, in order: sent, or
// dropped because the connection stopped writing. The lender must outlive that.
class body_lender {
 public:
  struct lendable {
    std::span<const char> bytes;  // the next body bytes, lendable now (empty: pull instead)
    bool last = false;            // nothing follows them
  };
  virtual lendable peek() = 0;
  // The first n bytes of the last peek() are lent.
  virtual void take(size_t n) = 0;
  // n more lent bytes are no longer referenced.
  virtual void returned(size_t n) = 0;

 protected:
  ~body_lender() = default;
};

// A pull source over an owned copy of `body`.
inline body_pull body_from_string(std::string body) {
  auto data = std::make_shared<std::string>(std::move(body));
  auto pos = std::make_shared<size_t>(0);
  return [data, pos](std::span<char> buf) -> result<body_chunk> {
    size_t n = std::min(buf.size(), data->size() - *pos);
    std::memcpy(buf.data(), data->data() + *pos, n);
    *pos += n;
    return body_chunk{n, *pos == data->size(), false};
  };
}

// A pull source over bytes the caller keeps alive until the stream closes.
inline body_pull body_from_view(std::string_view body) {
  auto pos = std::make_shared<size_t>(0);
  return [body, pos](std::span<char> buf) -> result<body_chunk> {
    size_t n = std::min(buf.size(), body.size() - *pos);
    std::memcpy(buf.data(), body.data() + *pos, n);
    *pos += n;
    return body_chunk{n, *pos == body.size(), false};
  };
}

}  // namespace ossuring::http
