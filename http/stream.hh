// byte_stream: a connected socket on the reactor, in clear text or through a tls_session, with
// plaintext reads and writes. The TLS engine only ever sees memory (tls.hh); this class moves
// its ciphertext over io_uring.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/event.hh"
#include "core/io.hh"
#include "core/net.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "http/tls.hh"

namespace ossuring::http {

class byte_stream {
 public:
  explicit byte_stream(unique_fd fd, std::unique_ptr<tls_session> tls = nullptr)
      : _fd(std::move(fd)), _tls(std::move(tls)) {}
  byte_stream(byte_stream&&) = default;

  // TLS: runs the handshake (no-op in clear text). Certificate failures are EACCES.
  task<status> handshake(op_options opts = {});
  // Reads plaintext; 0 means the peer closed the stream.
  task<result<size_t>> read_some(std::span<char> buf, op_options opts = {});
  // Writes all of `data` (plaintext).
  task<status> write_all(std::span<const char> data, op_options opts = {});
  task<status> write_all(std::string_view s, op_options opts = {}) {
    return write_all(std::span<const char>(s.data(), s.size()), opts);
  }
  // Writes all of `pieces` (plaintext), in order: one gathered send each time in clear text.
  task<status> write_all(std::span<const std::span<const char>> pieces, op_options opts = {});
  // For an idle connection, without waiting: whether it is unusable for a new request. True
  // when the peer closed it (EOF, an error, a TLS close_notify) or sent data nobody asked for.
  // Over TLS it takes in what arrived, so session tickets sent after the handshake are
  // consumed here rather than mistaken for a close; protocol output this produces goes out
  // before the next write's bytes.
  bool poll_closed();
  // Closes abruptly: the peer sees a reset (SO_LINGER 0), not a clean end.
  void reset_connection();
  // Sends TLS close_notify when applicable; the fd is closed on destruction.
  task<void> close();

  // Negotiated ALPN ("h2", "http/1.1") or "" (clear text, or none negotiated).
  std::string alpn() const { return _tls ? std::string(_tls->alpn()) : std::string(); }
  std::string server_name() const {
    return _tls ? std::string(_tls->server_name()) : std::string();
  }
  bool is_tls() const { return _tls != nullptr; }
  // TLS: the handshake resumed a cached session.
  bool session_reused() const { return _tls && _tls->session_reused(); }
  int fd() const { return _fd.get(); }
  uint64_t bytes_read() const { return _bytes_read; }
  uint64_t bytes_written() const { return _bytes_written; }

 private:
  task<status> flush_tls(const op_options& opts);
  task<result<size_t>> recv_raw(std::span<char> buf, const op_options& opts);

  unique_fd _fd;
  std::unique_ptr<tls_session> _tls;
  std::string _cipher_in;
  bool _flushing = false;
  event _flush_done;
  uint64_t _bytes_read = 0;
  uint64_t _bytes_written = 0;
};

}  // namespace ossuring::http
