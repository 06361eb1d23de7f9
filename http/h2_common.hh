// What the HTTP/2 client and server sessions share: settings, and the byte pump between
// nghttp2 (mem_recv/mem_send) and the caller's transport, with output batched in one buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "core/result.hh"
#include "http/body.hh"
#include "http/detail/handles.hh"
#include "http/message.hh"

namespace ossuring::http {

struct h2_settings {
  // Per-stream receive window we advertise: large so one stream can fill a fast link.
  uint32_t initial_window_size = 16u << 20;
  // Connection receive window we advertise (shared by all streams).
  uint32_t connection_window_size = 64u << 20;
  // Streams the peer may open towards us (server side; clients receive no streams).
  uint32_t max_concurrent_streams = 100;
  // false: received DATA is acknowledged (WINDOW_UPDATE) as soon as it is delivered to a sink.
  // true: the caller acknowledges with consume(stream, n) once it has room, so a slow
  // consumer stalls the sender instead of buffering (back-pressure).
  bool manual_flow_control = false;
  // output() stops pulling frames from nghttp2 once this many bytes are pending.
  size_t output_batch = 256u << 10;
  // Largest frame we accept (SETTINGS_MAX_FRAME_SIZE) and largest DATA frame we send when the
  // peer accepts it. With 16 KiB frames (the protocol default) every frame of a large body is
  // copied into the output batch; a frame this large is handed to the transport from nghttp2's
  // own buffer instead (see output()).
  uint32_t max_frame_size = 256u << 10;
};

// Common part of h2_client_session and h2_server_session. Not movable: nghttp2 holds a pointer.
// Driving it from a transport:
//   on bytes received:   feed(bytes)                    (may call the session's callbacks)
//   when writable:       out = output(); send(*out); consume_output(sent)
//   keep the connection while alive(); after a failed feed(), send output() then close.
class h2_session {
 public:
  h2_session(const h2_session&) = delete;
  h2_session& operator=(const h2_session&) = delete;
  virtual ~h2_session() = default;

  // Processes bytes received from the peer. Fails (EPROTO) on a connection-level protocol error;
  // a GOAWAY describing it is then queued in output().
  status feed(std::span<const char> data);
  status feed(std::string_view data) { return feed(std::span(data.data(), data.size())); }
  status feed(const std::string& data) { return feed(std::string_view(data)); }

  // Bytes to send: everything nghttp2 has queued, batched into one buffer owned by the session,
  // up to settings.output_batch bytes. The view stays valid until consume_output() or the next
  // feed()/output(). Empty when there is nothing to send.
  result<std::string_view> output();
  // Marks the first n bytes of the last output() as sent.
  void consume_output(size_t n);
  bool has_output() const {
    return _direct != nullptr || _out_pos < _out.size() ||
           nghttp2_session_want_write(_session.get());
  }

  // Whether the connection still has work (streams, frames to send, or reading allowed).
  bool alive() const;

  // With settings.manual_flow_control: n body bytes of `stream_id` delivered to its sink have
  // been processed; reopens that much receive window. Still valid after the stream closed
  // (the connection window needs it). No effect without manual flow control.
  status consume(int32_t stream_id, size_t n);

  // A deferred body source (body_chunk::deferred) has data again.
  status resume(int32_t stream_id);
  // Resets one stream (RST_STREAM with `error_code`).
  status reset_stream(int32_t stream_id, uint32_t error_code = NGHTTP2_CANCEL);
  // Sends PING; the ack is reported through the session's on_ping_ack.
  status ping();
  // Graceful shutdown, first step (server): a GOAWAY with the maximum stream id telling the
  // client to stop opening streams; send goaway() later to finish.
  status shutdown_notice();
  // Sends GOAWAY. last_stream_id < 0 means the last stream the peer opened that we processed.
  status goaway(uint32_t error_code = NGHTTP2_NO_ERROR, int32_t last_stream_id = -1);

 protected:
  // Per-stream body source state that nghttp2's data provider points to.
  struct pull_state {
    body_pull pull;
    bool cancelled = false;
    error failure;
    bool failed = false;
  };

  h2_session() = default;
  // Installs callbacks common to both roles, creates the session and queues our SETTINGS.
  status start(bool server, const h2_settings& settings, nghttp2_session_callbacks* callbacks);
  static nghttp2_data_provider provider_for(pull_state* state);
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*);
  // Payload size of the next DATA frame: as large as the windows, the peer's frame limit and
  // our max_frame_size allow.
  static ssize_t data_length(nghttp2_session*, uint8_t frame_type, int32_t stream_id,
                             int32_t session_window, int32_t stream_window, uint32_t peer_max_frame,
                             void* user);
  // Lower-cased, connection-specific headers dropped (RFC 9113 section 8.2.2). Names already in
  // lower case are pointed at where they are; `lowered` holds copies of the others until
  // nghttp2 has copied the list.
  static void append_headers(const header_list& headers, std::string& lowered,
                             std::vector<nghttp2_nv>& nva);
  static nghttp2_nv make_nv(std::string_view name, std::string_view value);
  // Manual flow control: padding and data nobody will consume still release window.
  void release(int32_t stream_id, size_t n);

  detail::nghttp2_session_ptr _session;
  h2_settings _settings;

 private:
  std::string _out;
  size_t _out_pos = 0;
  // A large frame output() returned from nghttp2's buffer, not copied into _out. It is valid
  // until the next nghttp2_session_mem_send(), which output() makes only once it is consumed.
  const char* _direct = nullptr;
  size_t _direct_len = 0;
  size_t _direct_pos = 0;
};

// Text for an HTTP/2 error code (e.g. "CANCEL", "REFUSED_STREAM").
std::string_view h2_error_name(uint32_t error_code);

}  // namespace ossuring::http
