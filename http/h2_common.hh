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
//   when writable:       out = output_pieces(); send(*out) gathered; consume_output(sent)
//   keep the connection while alive(); after a failed feed(), send the output then close;
//   a transport that stops writing for good calls abandon_output() (lent bytes go back).
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

  // Bytes to send, in order, as pieces to write gathered: frames nghttp2 queued, batched in a
  // buffer of the session, and between them body bytes lent in place (body_lender) or a large
  // frame left in nghttp2's buffer. Pulls frames until settings.output_batch bytes are pending.
  // The view stays valid until consume_output() or the next feed()/output_pieces(). Empty when
  // there is nothing to send.
  result<std::span<const std::span<const char>>> output_pieces();
  // Bytes in the pieces output_pieces() returned last, less those consumed since.
  size_t output_bytes() const { return _pending; }
  // The first piece of output_pieces(), for transports that write one buffer at a time.
  result<std::string_view> output();
  // Marks the first n bytes of the pending output as sent.
  void consume_output(size_t n);
  bool has_output() const {
    return _next_piece < _pieces.size() || nghttp2_session_want_write(_session.get());
  }
  // The transport will never send the pending output: lent bytes are returned to their lenders
  // now. Only a dying connection calls this (the peer cannot make sense of the stream after).
  void abandon_output();

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
    body_lender* lender = nullptr;  // asked first, when set
    const char* lent = nullptr;     // the bytes of the DATA frame being lent (send_data)
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
  // A lent DATA frame (NGHTTP2_DATA_FLAG_NO_COPY): its header goes to the batch, its payload
  // becomes a piece of its own, called from inside nghttp2_session_mem_send.
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                       size_t length, nghttp2_data_source* source, void* user);
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
  // A run of output: bytes of _out (at != nullptr is false) or bytes held elsewhere.
  struct piece {
    size_t offset = 0;  // into _out, for a batch piece (_out may move as it grows)
    size_t size = 0;
    const char* at = nullptr;       // lent bytes, or a frame in nghttp2's buffer
    body_lender* lender = nullptr;  // lent bytes: told when they are sent
  };
  void append_batch(const char* data, size_t n);
  // Drops the consumed front of _out (its pieces are all consumed) once it is large.
  void compact();

  std::string _out;
  std::vector<piece> _pieces;
  size_t _next_piece = 0;  // first piece not wholly sent
  size_t _piece_pos = 0;   // bytes of it sent
  size_t _pending = 0;     // bytes of the pieces not sent
  // A large frame left in nghttp2's buffer is pending: it is valid until the next
  // nghttp2_session_mem_send(), which output_pieces() makes only once it is consumed.
  bool _direct_pending = false;
  std::vector<std::span<const char>> _view;
};

// Text for an HTTP/2 error code (e.g. "CANCEL", "REFUSED_STREAM").
std::string_view h2_error_name(uint32_t error_code);

}  // namespace ossuring::http
