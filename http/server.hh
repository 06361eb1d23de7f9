// http::server: accepts connections on the reactor and serves HTTP/1.1 keep-alive, HTTP/2 with
// prior knowledge (h2c), and either over TLS chosen by ALPN. Used by the OSS emulator.
//
// Handlers are coroutines that push their response through a `responder`: the head, then body
// pieces (each send waits until the transport or HTTP/2 flow control has taken it, so a slow
// reader slows the handler instead of filling memory), then finish. A handler may also abort,
// which resets the connection (HTTP/1.1) or the stream (HTTP/2), to emulate failures.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/abort.hh"
#include "core/gate.hh"
#include "core/net.hh"
#include "core/task.hh"
#include "http/message.hh"
#include "http/tls.hh"

namespace ossuring::http {

class responder {
 public:
  virtual ~responder() = default;
  // `content_length`: the body length announced (HTTP/1.1 Content-Length; for HEAD the length a
  // GET would have); nullopt for no body at all. HTTP/1.1 may announce more than it sends
  // (emulated faults): the connection is then closed after finish().
  virtual task<status> send_head(int code, const header_list& headers,
                                 std::optional<uint64_t> content_length, bool head_only) = 0;
  virtual task<status> send_body(std::span<const char> data) = 0;
  // HTTP/1.1 holds the head back to send it with the first body piece (one write per small
  // response); flush() sends what is held now, for a handler about to pause (time to first byte,
  // a stall, pacing). finish() flushes too.
  virtual task<status> flush() = 0;
  virtual task<status> finish() = 0;
  // Resets the connection (HTTP/1.1) or the stream (HTTP/2) at once.
  virtual void abort() = 0;
  // Closes the connection after this response (HTTP/1.1: Connection: close).
  virtual bool is_h2() const = 0;
};

struct connection_info {
  uint64_t id = 0;
  std::string protocol;  // "http/1.1" or "h2"
  bool tls = false;
  std::string server_name;  // the client's SNI (TLS only; "" without one)
  socket_address peer;
};

using request_handler =
    std::function<task<void>(request& req, responder& out, const connection_info& conn)>;

struct server_options {
  std::shared_ptr<tls_context> tls;  // serve TLS (ALPN h2 / http/1.1) when set
  // Called once per accepted connection before anything is read (the emulator delays here to
  // stand for handshake round trips).
  std::function<task<void>(const connection_info&)> on_connect;
  // Called once when a connection has ended (after its last handler returned).
  std::function<void(const connection_info&)> on_disconnect;
  size_t max_request_body = size_t{6} << 30;
  std::chrono::milliseconds idle_timeout{120000};
};

class server {
 public:
  server(unique_fd listen_fd, server_options opts, request_handler handler);
  ~server();

  // Accepts and serves until stop(); returns after every connection has ended.
  task<void> serve();
  // Stops accepting and closes every connection.
  task<void> stop();

  uint64_t connections_accepted() const { return _accepted; }
  int listen_fd() const { return _fd.get(); }

 private:
  task<void> serve_connection(unique_fd fd, uint64_t id);

  unique_fd _fd;
  server_options _opts;
  request_handler _handler;
  std::unique_ptr<acceptor> _acceptor;
  gate _connections;
  abort_source _stop;
  uint64_t _accepted = 0;
};

}  // namespace ossuring::http
