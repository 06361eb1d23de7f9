// TLS over memory BIOs (OpenSSL 3): the session never touches a socket. The transport feeds
// ciphertext in and drains ciphertext out; the protocol above reads and writes plaintext.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hh"
#include "http/detail/handles.hh"

namespace ossuring::http {

struct tls_client_config {
  // PEM file of trusted CAs; empty uses the system CA bundle.
  std::string ca_file;
  // false turns off certificate and hostname verification. Only for tests and explicit user
  // opt-in ("insecure"); never a fallback.
  bool verify = true;
  // Offered in order; empty offers no ALPN.
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  // Keep the last session per host:port and offer it on the next handshake.
  bool resume_sessions = true;
};

struct tls_server_config {
  std::string cert_file;  // PEM certificate chain, leaf first
  std::string key_file;   // PEM private key
  // Server preference: the first of these the client offers is selected (so "h2" first prefers
  // HTTP/2). A client offering none of them gets no ALPN.
  std::vector<std::string> alpn = {"h2", "http/1.1"};
};

// An SSL_CTX plus (for clients) the session cache. Shared by every session made from it, which
// keep it alive.
class tls_context : public std::enable_shared_from_this<tls_context> {
 public:
  // Exceptions are not used: a bad CA/cert/key file is an error result (EINVAL/ENOENT).
  static result<std::shared_ptr<tls_context>> client(tls_client_config config);
  static result<std::shared_ptr<tls_context>> server(tls_server_config config);

  bool is_server() const { return _server; }
  SSL_CTX* native() const { return _ctx.get(); }
  // Client session cache (key "host:port").
  size_t cached_sessions() const;

 private:
  friend class tls_session;
  tls_context() = default;
  void store_session(const std::string& key, SSL_SESSION* session);
  detail::ssl_session_ptr find_session(const std::string& key);

  detail::ssl_ctx_ptr _ctx;
  bool _server = false;
  tls_client_config _client;
  tls_server_config _server_config;
  std::vector<unsigned char> _alpn_wire;  // server preference list, length-prefixed
  mutable std::mutex _cache_mutex;
  std::unordered_map<std::string, detail::ssl_session_ptr> _cache;
};

// One TLS connection. Not movable (OpenSSL callbacks hold its address). Driving it:
//   on ciphertext received:  feed(bytes)              (feed_eof() when the peer closed TCP)
//   until handshake() is true: send output(), wait for more input
//   plaintext in:            read(buf) -> n; 0 means "need more ciphertext" unless peer_closed()
//   plaintext out:           write(bytes), then send output()
// Errors carry the OpenSSL error queue text; certificate failures are EACCES with the
// verification reason, other TLS failures EPROTO.
class tls_session {
 public:
  // `host` is used for SNI (unless an IP address) and hostname/IP verification; `port` only
  // keys the session cache.
  static result<std::unique_ptr<tls_session>> client(std::shared_ptr<tls_context> context,
                                                     std::string host, uint16_t port);
  static result<std::unique_ptr<tls_session>> server(std::shared_ptr<tls_context> context);
  ~tls_session();
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  // Ciphertext from the peer.
  status feed(std::span<const char> data);
  status feed(std::string_view data) { return feed(std::span(data.data(), data.size())); }
  status feed(const std::string& data) { return feed(std::string_view(data)); }
  // The peer closed the transport: later reads report peer_closed() instead of waiting.
  void feed_eof();

  // Advances the handshake: true once complete, false while it waits for peer bytes.
  result<bool> handshake();
  bool handshake_done() const;

  // Decrypts into buf. Returns the bytes produced; 0 means more ciphertext is needed, or the
  // stream ended when peer_closed(). Client sessions also receive TLS 1.3 session tickets here.
  result<size_t> read(std::span<char> buf);
  // Encrypts all of `data` (the memory BIO never blocks) once the handshake is done; before
  // that, drives the handshake and returns 0.
  result<size_t> write(std::span<const char> data);
  result<size_t> write(std::string_view data) { return write(std::span(data.data(), data.size())); }
  result<size_t> write(const std::string& data) { return write(std::string_view(data)); }
  // Queues close_notify.
  status shutdown();

  // Ciphertext to send; valid until consume_output() or the next call that produces output.
  std::string_view output();
  void consume_output(size_t n);
  bool has_output() const;

  // The negotiated ALPN protocol ("h2", "http/1.1") or empty.
  std::string_view alpn() const;
  // Server side: the host name the client sent by SNI ("" without one).
  std::string_view server_name() const;
  // Whether the handshake resumed a cached session.
  bool session_reused() const;
  bool peer_closed() const { return _peer_closed; }
  SSL* native() const { return _ssl.get(); }

 private:
  friend class tls_context;
  tls_session() = default;
  static result<std::unique_ptr<tls_session>> make(std::shared_ptr<tls_context> context);
  error failure(int ssl_error, std::string_view what);
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  std::shared_ptr<tls_context> _context;
  detail::ssl_ptr _ssl;
  BIO* _rbio = nullptr;  // owned by _ssl
  BIO* _wbio = nullptr;  // owned by _ssl
  std::string _cache_key;
  std::string _out;
  size_t _out_pos = 0;
  bool _peer_closed = false;
  bool _failed = false;  // a TLS error occurred: drop the session from the cache on close
};

// The OpenSSL error queue, drained, as one readable string.
std::string tls_error_string();

}  // namespace ossuring::http
