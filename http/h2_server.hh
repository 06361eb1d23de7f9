// HTTP/2 server session over memory buffers (nghttp2), for the OSS emulator: complete requests
// go to a handler; responses stream from pull sources that may defer (bandwidth limiting).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "http/h2_common.hh"

namespace ossuring::http {

struct h2_server_options {
  h2_settings settings;
  // A request is complete (head + whole body). Answer now or later with respond(); the stream
  // stays open until then. Called from inside feed().
  std::function<void(int32_t stream_id, request req)> on_request;
  // A stream ended; error_code is NGHTTP2_NO_ERROR after a normal exchange (CANCEL when the
  // client reset it). A pending response for it must not be submitted any more.
  std::function<void(int32_t stream_id, uint32_t error_code)> on_stream_close;
  // Larger request bodies reset the stream (REFUSED_STREAM is not used: the body was sent).
  size_t max_request_body = size_t{1} << 30;
};

// Sniffing a cleartext connection that may speak HTTP/1.1 or prior-knowledge h2c: compare the
// first bytes received with the client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".
enum class preface_match { need_more, h2, other };
preface_match match_h2_preface(std::string_view received);

// Expects the client connection preface (ALPN "h2" or prior-knowledge h2c).
class h2_server_session : public h2_session {
 public:
  static result<std::unique_ptr<h2_server_session>> create(h2_server_options options);
  ~h2_server_session() override;

  // Queues the response of a stream. Without `body` the HEADERS frame ends the stream;
  // otherwise `body` is pulled as flow control allows. A pull returning deferred waits for
  // resume(stream_id). With a `lender`, each DATA frame first takes what it lends in place and
  // pulls only otherwise (see body_lender for its lifetime). Fails with ENOENT when the stream is
  // gone (reset by the client).
  status respond(int32_t stream_id, int status, const header_list& headers, body_pull body = {},
                 body_lender* lender = nullptr);
  size_t open_streams() const { return _streams.size(); }

 private:
  struct stream;
  struct callbacks;
  h2_server_session() = default;

  h2_server_options _options;
  std::unordered_map<int32_t, std::unique_ptr<stream>> _streams;
};

}  // namespace ossuring::http
