// byte_stream: clear-text and TLS byte streams over the reactor's sockets.
#include "http/stream.hh"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace ossuring::http {

namespace {
error io_error(int neg, std::string_view what) {
  int e = -neg;
  return make_error(e, std::string(what) + ": " + std::strerror(e));
}
}  // namespace

task<result<size_t>> byte_stream::recv_raw(std::span<char> buf, const op_options& opts) {
  int n = co_await recv(_fd.get(), buf.data(), buf.size(), 0, opts);
  if (n < 0) {
    co_return io_error(n, "recv");
  }
  _bytes_read += static_cast<size_t>(n);
  co_return static_cast<size_t>(n);
}

task<status> byte_stream::flush_tls(const op_options& opts) {
  // Reads (TLS may answer with key updates or alerts) and writes can run in two coroutines of
  // one connection: one flusher at a time sends the ciphertext, in order; the others wait for it
  // (their bytes were queued before they waited, so the running flusher sends them too).
  while (_flushing) {
    co_await _flush_done.wait();
  }
  _flushing = true;
  status result_status;
  while (_tls->has_output()) {
    // Copy: a write() by another coroutine while we wait in send() may grow the buffer.
    std::string chunk(_tls->output());
    if (chunk.empty()) {
      break;
    }
    _tls->consume_output(chunk.size());
    size_t off = 0;
    while (off < chunk.size()) {
      int n = co_await send(_fd.get(), chunk.data() + off, chunk.size() - off, MSG_NOSIGNAL, opts);
      if (n < 0) {
        result_status = io_error(n, "send");
        break;
      }
      off += static_cast<size_t>(n);
      _bytes_written += static_cast<size_t>(n);
    }
    if (!result_status.ok()) {
      break;
    }
  }
  _flushing = false;
  _flush_done.set();
  _flush_done.reset();
  co_return result_status;
}

task<status> byte_stream::handshake(op_options opts) {
  if (!_tls) {
    co_return status{};
  }
  char buf[16384];
  for (;;) {
    result<bool> done = _tls->handshake();
    if (status s = co_await flush_tls(opts); !s.ok()) {
      co_return s;
    }
    if (!done.ok()) {
      co_return std::move(done).err();
    }
    if (*done) {
      co_return status{};
    }
    result<size_t> n = co_await recv_raw(buf, opts);
    if (!n.ok()) {
      co_return std::move(n).err();
    }
    if (*n == 0) {
      co_return make_error(ECONNRESET, "TLS handshake: the peer closed the connection");
    }
    if (status s = _tls->feed(std::span<const char>(buf, *n)); !s.ok()) {
      co_return s;
    }
  }
}

task<result<size_t>> byte_stream::read_some(std::span<char> buf, op_options opts) {
  if (!_tls) {
    co_return co_await recv_raw(buf, opts);
  }
  char cipher[16384];
  for (;;) {
    result<size_t> got = _tls->read(buf);
    // Reading may produce protocol output (key updates, alerts): send it before waiting. A
    // flush already running sends it too (it loops until no output is left), and waiting for
    // it would hold incoming frames (WINDOW_UPDATE, PING acks, other streams' responses) behind
    // a long upload.
    if (!_flushing) {
      if (status s = co_await flush_tls(opts); !s.ok()) {
        co_return std::move(s).err();
      }
    }
    if (!got.ok()) {
      co_return std::move(got).err();
    }
    if (*got > 0 || _tls->peer_closed()) {
      co_return *got;
    }
    result<size_t> n = co_await recv_raw(cipher, opts);
    if (!n.ok()) {
      co_return std::move(n).err();
    }
    if (*n == 0) {
      _tls->feed_eof();
      continue;
    }
    if (status s = _tls->feed(std::span<const char>(cipher, *n)); !s.ok()) {
      co_return std::move(s).err();
    }
  }
}

bool byte_stream::poll_closed() {
  char cipher[16384];
  if (!_tls) {
    ssize_t n = ::recv(_fd.get(), cipher, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
  for (;;) {
    ssize_t n = ::recv(_fd.get(), cipher, sizeof cipher, MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return true;
      }
      break;
    }
    _bytes_read += static_cast<size_t>(n);
    if (n == 0) {
      _tls->feed_eof();
      break;
    }
    if (!_tls->feed(std::span<const char>(cipher, static_cast<size_t>(n))).ok()) {
      return true;
    }
  }
  char plain[1];
  result<size_t> got = _tls->read(plain);
  return !got.ok() || *got > 0 || _tls->peer_closed();
}

task<status> byte_stream::write_all(std::span<const char> data, op_options opts) {
  if (_tls) {
    result<size_t> n = _tls->write(data);
    if (!n.ok()) {
      co_return std::move(n).err();
    }
    co_return co_await flush_tls(opts);
  }
  size_t off = 0;
  while (off < data.size()) {
    int n = co_await send(_fd.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL, opts);
    if (n < 0) {
      co_return io_error(n, "send");
    }
    off += static_cast<size_t>(n);
    _bytes_written += static_cast<size_t>(n);
  }
  co_return status{};
}

task<status> byte_stream::write_all(std::span<const std::span<const char>> pieces,
                                    op_options opts) {
  if (_tls) {
    // One TLS record (up to 16 KiB) per write at least: pieces shorter than join_below (HTTP/2
    // frame headers between lent bodies) are joined with what follows them into full records
    // instead of each costing a record of its own.
    constexpr size_t record = 16384;
    constexpr size_t join_below = 4096;
    std::string joined;
    auto encrypt = [this](std::span<const char> d) -> status {
      result<size_t> n = _tls->write(d);
      return n.ok() ? status{} : std::move(n).err();
    };
    for (std::span<const char> p : pieces) {
      if (!joined.empty()) {
        size_t take = std::min(p.size(), record - joined.size());
        joined.append(p.data(), take);
        p = p.subspan(take);
        if (joined.size() == record) {
          if (status st = encrypt(joined); !st.ok()) {
            co_return st;
          }
          joined.clear();
        }
      }
      if (p.size() >= join_below) {
        if (status st = encrypt(p); !st.ok()) {
          co_return st;
        }
      } else {
        joined.append(p.data(), p.size());
      }
    }
    if (!joined.empty()) {
      if (status st = encrypt(joined); !st.ok()) {
        co_return st;
      }
    }
    co_return co_await flush_tls(opts);
  }
  // The kernel takes at most IOV_MAX iovecs a call; a partial send resumes inside its piece.
  constexpr size_t max_iov = 64;
  iovec iov[max_iov];
  size_t next = 0;  // first piece not wholly sent
  size_t pos = 0;   // bytes of it sent
  while (next < pieces.size()) {
    size_t count = 0;
    for (size_t i = next; i < pieces.size() && count < max_iov; ++i) {
      size_t skip = i == next ? pos : 0;
      iov[count].iov_base = const_cast<char*>(pieces[i].data() + skip);
      iov[count].iov_len = pieces[i].size() - skip;
      ++count;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    int n = co_await sendmsg(_fd.get(), &msg, MSG_NOSIGNAL, opts);
    if (n < 0) {
      co_return io_error(n, "sendmsg");
    }
    _bytes_written += static_cast<size_t>(n);
    size_t left = static_cast<size_t>(n);
    while (next < pieces.size() && left >= pieces[next].size() - pos) {
      left -= pieces[next].size() - pos;  // empty pieces are passed over here too
      ++next;
      pos = 0;
    }
    pos += left;
    if (n == 0 && next < pieces.size()) {
      co_return make_error(EPIPE, "sendmsg: nothing sent");
    }
  }
  co_return status{};
}

void byte_stream::reset_connection() {
  if (!_fd) {
    return;
  }
  linger l{1, 0};
  ::setsockopt(_fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  _fd.reset();
}

task<void> byte_stream::close() {
  if (_tls && _fd) {
    if (_tls->shutdown().ok()) {
      (void)co_await flush_tls({.timeout = std::chrono::seconds(1)});
    }
  }
  if (_fd) {
    ::shutdown(_fd.get(), SHUT_RDWR);
  }
  _fd.reset();
}

}  // namespace ossuring::http
