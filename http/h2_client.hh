// HTTP/2 client session over memory buffers (nghttp2): submit requests, receive per-stream
// events, honour the server's stream limit, surface GOAWAY and cancel streams.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/h2_common.hh"

namespace ossuring::http {

// Per-stream events. None is called after cancel(stream) returns.
struct h2_stream_callbacks {
  // The final response head (status + headers; interim 1xx heads are skipped). The callee may
  // move from it: the session no longer needs it.
  std::function<void(response& head)> on_head;
  // Response body bytes in order, straight from the received frame.
  body_sink on_data;
  // Exactly once: ok after a complete response; otherwise why the stream ended:
  // EAGAIN when the server refused it (GOAWAY past it or REFUSED_STREAM: safe to retry on a
  // new connection), ECONNRESET when reset, EPROTO/EIO for connection failures, or the
  // error on_data returned.
  std::function<void(status)> on_close;
};

// Connection-level events.
struct h2_client_events {
  // The server sent GOAWAY: streams above last_stream_id were not processed (they fail with
  // EAGAIN); new requests belong on a new connection.
  std::function<void(int32_t last_stream_id, uint32_t error_code)> on_goaway;
  std::function<void()> on_ping_ack;
  // The server's SETTINGS arrived or changed (available_streams() may have grown).
  std::function<void()> on_settings;
};

struct h2_client_options {
  h2_settings settings;
  std::string scheme = "https";  // ":scheme" of requests ("http" for prior-knowledge h2c)
  h2_client_events events;
};

// The client sends the connection preface itself on the first output(), so it works both after
// ALPN "h2" and with prior knowledge over cleartext.
class h2_client_session : public h2_session {
 public:
  static result<std::unique_ptr<h2_client_session>> create(h2_client_options options = {});
  ~h2_client_session() override;

  // Queues a request; returns its stream id. `body` supplies the request body (if empty and
  // req.body is not, req.body is copied and content-length added when missing; with a
  // streamed `body`, put content-length in req.headers yourself). The authority is
  // req.authority, else the Host header. Header names are lower-cased and connection-specific
  // ones dropped. Fails with EAGAIN after GOAWAY (open a new connection).
  result<int32_t> submit(const request& req, h2_stream_callbacks callbacks, body_pull body = {});
  // Abandons a stream: RST_STREAM(CANCEL) is queued and no callback of the stream runs again
  // (its body source is not pulled again either). No effect on a closed stream.
  void cancel(int32_t stream_id);

  // The transport failed (EOF, socket error, TLS error, or feed() failed): every open stream's
  // on_close receives `why` and the streams are forgotten. Call before destroying a session
  // with open streams; the destructor itself runs no callbacks. Later submits fail with `why`.
  void fail_all(const error& why);

  // Streams that may be opened now without exceeding the server's MAX_CONCURRENT_STREAMS
  // (0 after GOAWAY).
  size_t available_streams() const;
  size_t open_streams() const { return _streams.size(); }
  bool goaway_received() const { return _goaway_last_stream_id >= 0; }
  int32_t goaway_last_stream_id() const { return _goaway_last_stream_id; }

 private:
  struct stream;
  struct callbacks;
  h2_client_session() = default;

  h2_client_options _options;
  std::unordered_map<int32_t, std::unique_ptr<stream>> _streams;
  int32_t _goaway_last_stream_id = -1;
  // The newest open in-order stream (request::in_order), on which the next one depends.
  int32_t _last_in_order = -1;
  std::optional<error> _broken;  // set by fail_all: no new requests
  std::vector<std::unique_ptr<stream>> _dead_streams;
};

}  // namespace ossuring::http
