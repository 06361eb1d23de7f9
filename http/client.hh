// http::client: the interface every OSS request goes through (HTTP/1.1 keep-alive pool or HTTP/2
// connections on the reactor, or an in-process loopback to the emulator in tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/abort.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "http/body.hh"
#include "http/message.hh"

namespace ossuring::http {

struct endpoint {
  std::string host;  // DNS name or literal address
  uint16_t port = 443;
  bool tls = true;
  std::string to_string() const {
    return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
  }
};

// Parses "host", "host:port", "http://host[:port]" or "https://host[:port]" (default https).
result<endpoint> parse_endpoint(std::string_view s);

struct client_options {
  // auto: ALPN (h2, then http/1.1) over TLS, HTTP/1.1 in clear text; "1.1"; "2" (over clear
  // text: prior-knowledge h2c).
  std::string http = "auto";
  bool verify_peer = true;
  std::string ca_file;               // empty: the system bundle
  unsigned max_h1_connections = 64;  // per client (one client per reactor and endpoint)
  unsigned h2_connections = 2;       // HTTP/2 connections to spread streams over
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds first_byte_timeout{30000};  // request sent -> response head
  std::chrono::milliseconds idle_timeout{60000};        // idle pooled connections are closed
};

// The default limit of a response body kept in memory (response.body): a listing page, an
// error answer. The OSS layer refuses larger XML anyway (oss::max_xml_body).
inline constexpr uint64_t default_max_body = uint64_t{64} << 20;

// One exchange. The response body goes to `response_body` when set (straight into the caller's
// buffer), else into response.body, at most `max_body` bytes: a Content-Length above it is
// refused when the head arrives, a chunked or close-delimited body the moment it passes it
// (EMSGSIZE; the connection or stream is not used again).
struct exchange {
  request req;
  body_pull request_body;            // when set, streams the request body (req.body ignored)
  uint64_t request_body_length = 0;  // Content-Length for a streamed body
  body_sink response_body;
  abort_source* abort = nullptr;         // a cancelled caller frees its connection or stream
  std::chrono::milliseconds timeout{0};  // whole exchange; 0 = first_byte_timeout only
  uint64_t max_body = default_max_body;  // response.body's limit (not response_body's)
};

struct client_stats {
  uint64_t connections_opened = 0;
  uint64_t requests = 0;
  uint64_t h2_requests = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t tls_sessions_resumed = 0;  // TLS handshakes that resumed a cached session
  uint64_t h2_pings_sent = 0;         // keep-alive PINGs on idle HTTP/2 connections
  uint64_t h2_ping_acks = 0;          // PING acknowledgements received
};

class client {
 public:
  virtual ~client() = default;
  // Sends one request and returns the response head (and body when no sink was given). Errors:
  // ECONNREFUSED/ECONNRESET/EPIPE/ETIMEDOUT/ECANCELED/EPROTO with a message naming the peer, and
  // EAGAIN only for a request the server did not process (an HTTP/2 stream it refused), which
  // any request may be sent again after. Beyond re-sending a request that never reached a
  // server (a refused stream with its body unread, a reused connection found closed), retry
  // policy belongs to the OSS layer, which knows idempotency.
  virtual task<result<response>> send(exchange& ex) = 0;
  // Closes every connection; in-flight exchanges fail with ECANCELED. Must be awaited before the
  // client is destroyed once it has sent a request (its connection tasks live in its gate).
  virtual task<void> close() = 0;
  virtual client_stats stats() const = 0;
  // "h2", "http/1.1" or "" (no connection yet): what the last connection negotiated.
  virtual std::string negotiated_protocol() const = 0;
};

// The real client over the reactor's sockets (implemented in http/client.cc).
std::unique_ptr<client> make_client(endpoint ep, client_options opts);

}  // namespace ossuring::http
