// http::server: accept loop, protocol choice (ALPN or the HTTP/2 preface), HTTP/1.1 and HTTP/2
// connection drivers with push-style responders.
#include "http/server.hh"

#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>

#include <deque>
#include <map>

#include "core/event.hh"
#include "core/io.hh"
#include "core/log.hh"
#include "http/h1_parser.hh"
#include "http/h1_writer.hh"
#include "http/h2_server.hh"
#include "http/stream.hh"

namespace ossuring::http {

namespace {

constexpr std::string_view h2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t read_chunk = 64 * 1024;

// ---- HTTP/1.1 ----------------------------------------------------------------------------

class h1_responder final : public responder {
 public:
  // `out` is the connection's write buffer (reused across requests, empty between them).
  h1_responder(byte_stream& s, std::string& out, bool keep_alive)
      : _s(s), _out(out), _keep_alive(keep_alive) {}

  task<status> send_head(int code, const header_list& headers,
                         std::optional<uint64_t> content_length, bool head_only) override {
    _head_only = head_only;
    _announced = content_length.value_or(0);
    body_framing f =
        content_length ? body_framing::content_length(*content_length) : body_framing::none();
    if (status st = write_response_head(_out, code, headers, f, _keep_alive); !st.ok()) {
      co_return st;
    }
    _head_sent = true;
    co_return status{};  // held until the first body piece, flush() or finish()
  }

  task<status> send_body(std::span<const char> data) override {
    if (_head_only || data.empty()) {
      co_return status{};
    }
    _sent += data.size();
    if (_out.empty()) {
      co_return co_await _s.write_all(data);
    }
    if (_out.size() + data.size() <= coalesce_limit) {
      _out.append(data.data(), data.size());
      co_return co_await flush();
    }
    if (status st = co_await flush(); !st.ok()) {
      co_return st;
    }
    co_return co_await _s.write_all(data);
  }

  task<status> flush() override {
    if (_out.empty()) {
      co_return status{};
    }
    status st = co_await _s.write_all(std::string_view(_out));
    _out.clear();
    co_return st;
  }

  task<status> finish() override {
    _finished = true;
    if (!_head_only && _sent != _announced) {
      _keep_alive = false;  // the framing is broken (an emulated fault): end the connection
    }
    co_return co_await flush();
  }

  void abort() override {
    _aborted = true;
    _out.clear();
    _s.reset_connection();
  }
  bool is_h2() const override { return false; }

  bool aborted() const { return _aborted; }
  bool finished() const { return _finished; }
  bool head_sent() const { return _head_sent; }
  bool keep_alive() const { return _keep_alive; }

 private:
  // A body piece up to this size is copied behind the head so both leave in one send; bigger
  // ones are sent from the caller's buffer after the head.
  static constexpr size_t coalesce_limit = 64 * 1024;

  byte_stream& _s;
  std::string& _out;
  bool _keep_alive;
  bool _head_only = false;
  bool _head_sent = false;
  bool _finished = false;
  bool _aborted = false;
  uint64_t _announced = 0;
  uint64_t _sent = 0;
};

task<void> serve_h1(byte_stream& s, std::string leftover, const request_handler& handler,
                    const connection_info& info, const server_options& opts, abort_source* stop) {
  h1_request_parser parser;
  std::unique_ptr<char[]> buf(new char[read_chunk]);  // not zero-filled
  std::span<char> in(buf.get(), read_chunk);
  std::string out;  // the response being assembled (h1_responder)
  for (;;) {
    parser.start();
    std::string body;
    bool too_big = false;
    parser.set_body_sink([&](std::span<const char> d) -> status {
      if (body.size() + d.size() > opts.max_request_body) {
        too_big = true;
        return make_error(EMSGSIZE, "request body too large");
      }
      if (body.empty() && parser.content_length() > d.size()) {
        // One allocation for an upload's body instead of a doubling series of them (each
        // copying what came so far into fresh pages).
        body.reserve(static_cast<size_t>(
            std::min<uint64_t>(parser.content_length(), opts.max_request_body)));
      }
      body.append(d.data(), d.size());
      return {};
    });
    bool sent_continue = false;
    bool got_any = !leftover.empty();
    while (!parser.complete()) {
      if (leftover.empty()) {
        result<size_t> n = co_await s.read_some(in, {.abort = stop, .timeout = opts.idle_timeout});
        if (!n.ok()) {
          co_return;  // reset, timeout or server stop: nothing to answer
        }
        if (*n == 0) {
          if (got_any) {
            (void)parser.feed_eof();
          }
          co_return;
        }
        got_any = true;
        leftover.assign(buf.get(), *n);
      }
      result<size_t> used = parser.feed(leftover);
      if (!used.ok()) {
        std::string out;
        header_list h;
        h.add("Content-Type", "text/plain");
        std::string msg =
            (too_big ? "request body too large: " : "bad request: ") + used.err().message + "\n";
        (void)write_response_head(out, too_big ? 413 : 400, h,
                                  body_framing::content_length(msg.size()), false);
        out += msg;
        (void)co_await s.write_all(std::string_view(out));
        co_return;
      }
      leftover.erase(0, *used);
      if (parser.head_complete() && parser.expects_continue() && !sent_continue) {
        std::string out;
        write_continue(out);
        sent_continue = true;
        if (!(co_await s.write_all(std::string_view(out))).ok()) {
          co_return;
        }
      }
    }
    request req = parser.take_head();
    req.body = std::move(body);
    h1_responder r(s, out, parser.keep_alive());
    co_await handler(req, r, info);
    if (r.aborted()) {
      co_return;
    }
    if (!(co_await r.flush()).ok()) {
      co_return;
    }
    if (!r.head_sent()) {
      std::string out;
      (void)write_response_head(out, 500, {}, body_framing::content_length(0), false);
      (void)co_await s.write_all(std::string_view(out));
      co_return;
    }
    if (!r.keep_alive()) {
      co_return;
    }
  }
}

// ---- HTTP/2 ------------------------------------------------------------------------------

struct h2_connection;

// Large body pieces are lent to the session in place (body_lender): send_body returns only once
// nghttp2's frames no longer reference them.
class h2_responder final : public responder, public body_lender {
 public:
  h2_responder(h2_connection& c, int32_t id) : _c(c), _id(id) {}

  task<status> send_head(int status, const header_list& headers,
                         std::optional<uint64_t> content_length, bool head_only) override;
  task<status> send_body(std::span<const char> data) override;
  task<status> flush() override { co_return status{}; }  // the writer sends as soon as it can
  task<status> finish() override;
  void abort() override;
  bool is_h2() const override { return true; }

  // The stream is gone (closed, reset, or the connection ended).
  void gone() {
    _gone = true;
    _drained.set();
  }

  // body_lender: the borrowed piece of a send_body, once the queue before it has been pulled.
  lendable peek() override {
    if (!_queue.empty()) {
      return {};
    }
    return {_borrowed.subspan(_borrowed_pos), false};
  }
  void take(size_t n) override {
    _borrowed_pos += n;
    _queued -= n;
    _lent += n;
  }
  void returned(size_t n) override {
    _lent -= n;
    if (_lent == 0) {
      _drained.set();
    }
  }

 private:
  friend struct h2_connection;
  result<body_chunk> pull(std::span<char> buf);

  h2_connection& _c;
  int32_t _id;
  std::deque<std::string> _queue;
  size_t _queued = 0;
  size_t _front_pos = 0;
  static constexpr size_t borrow_threshold = 16 * 1024;
  // A large send_body's bytes, lent or pulled after the queue; send_body waits until they are
  // all taken (or the stream is gone) and none is lent, and clears this before it returns.
  std::span<const char> _borrowed;
  size_t _borrowed_pos = 0;
  size_t _lent = 0;  // bytes lent and not returned
  bool _eof = false;
  bool _gone = false;
  bool _has_body = false;
  event _drained;
};

struct h2_connection {
  byte_stream& s;
  const request_handler& handler;
  const connection_info& info;
  std::unique_ptr<h2_server_session> session;
  std::map<int32_t, std::shared_ptr<h2_responder>> streams;
  gate handlers;
  event wake;
  bool closing = false;

  static constexpr size_t high_water = 512 * 1024;

  void kick() { wake.set(); }

  task<void> run_handler(request req, std::shared_ptr<h2_responder> r) {
    co_await handler(req, *r, info);
    if (!r->_gone && !r->_eof) {
      (void)co_await r->finish();
    }
  }

  task<void> writer() {
    co_await write_output();
    // Nothing will send what is left: its lent bytes go back to the responders waiting on them.
    session->abandon_output();
  }

  task<void> write_output() {
    for (;;) {
      while (session->has_output()) {
        auto out = session->output_pieces();
        if (!out.ok() || out->empty()) {
          break;
        }
        size_t bytes = session->output_bytes();
        if (!(co_await s.write_all(*out)).ok()) {
          closing = true;
          co_return;
        }
        session->consume_output(bytes);
      }
      if (closing || !session->alive()) {
        co_return;
      }
      wake.reset();
      co_await wake.wait();
    }
  }
};

task<status> h2_responder::send_head(int code, const header_list& headers,
                                     std::optional<uint64_t> content_length, bool head_only) {
  if (_gone || _c.closing) {
    co_return make_error(ECONNRESET, "stream closed");
  }
  body_pull pull;
  // Without a length the body runs until finish() (END_STREAM), as HTTP/2 allows.
  if (!head_only && (!content_length || *content_length > 0)) {
    _has_body = true;
    pull = [this](std::span<char> buf) { return this->pull(buf); };
  } else {
    _eof = true;
  }
  header_list h = headers;
  if (content_length) {
    h.set("content-length", std::to_string(*content_length));
  }
  status st = _c.session->respond(_id, code, h, std::move(pull), _has_body ? this : nullptr);
  _c.kick();
  co_return st;
}

result<body_chunk> h2_responder::pull(std::span<char> buf) {
  size_t n = 0;
  while (n < buf.size() && !_queue.empty()) {
    std::string& front = _queue.front();
    size_t take = std::min(buf.size() - n, front.size() - _front_pos);
    std::memcpy(buf.data() + n, front.data() + _front_pos, take);
    n += take;
    _front_pos += take;
    _queued -= take;
    if (_front_pos == front.size()) {
      _queue.pop_front();
      _front_pos = 0;
    }
  }
  if (n < buf.size() && _queue.empty() && _borrowed_pos < _borrowed.size()) {
    size_t take = std::min(buf.size() - n, _borrowed.size() - _borrowed_pos);
    std::memcpy(buf.data() + n, _borrowed.data() + _borrowed_pos, take);
    n += take;
    _borrowed_pos += take;
    _queued -= take;
  }
  if (_queued < h2_connection::high_water / 2) {
    _drained.set();
  }
  if (n == 0 && !_eof) {
    return body_chunk{0, false, true};
  }
  return body_chunk{n, _eof && _queue.empty(), false};
}

task<status> h2_responder::send_body(std::span<const char> data) {
  if (!_has_body || data.empty()) {
    co_return status{};
  }
  if (_gone || _c.closing) {
    co_return make_error(ECONNRESET, "stream closed");
  }
  _queued += data.size();
  if (data.size() >= borrow_threshold) {
    // Large bodies (the emulator sends 64 KiB pieces) go to the socket straight from the
    // caller's buffer, lent to DATA frames: no copy, as over HTTP/1.1. The buffer is the
    // caller's again only when no frame references it (the writer returns every lent byte, sent
    // or abandoned, before it ends).
    _borrowed = data;
    _borrowed_pos = 0;
    (void)_c.session->resume(_id);
    _c.kick();
    while ((_borrowed_pos < _borrowed.size() && !_gone && !_c.closing) || _lent > 0) {
      _drained.reset();
      co_await _drained.wait();
    }
    _queued -= _borrowed.size() - _borrowed_pos;
    _borrowed = {};
    _borrowed_pos = 0;
  } else {
    _queue.emplace_back(data.data(), data.size());
    (void)_c.session->resume(_id);
    _c.kick();
  }
  while (_queued > h2_connection::high_water && !_gone && !_c.closing) {
    _drained.reset();
    co_await _drained.wait();
  }
  if (_gone) {
    co_return make_error(ECONNRESET, "stream closed");
  }
  co_return status{};
}

task<status> h2_responder::finish() {
  if (_eof) {
    co_return status{};
  }
  _eof = true;
  if (!_gone && !_c.closing) {
    (void)_c.session->resume(_id);
    _c.kick();
  }
  co_return status{};
}

void h2_responder::abort() {
  if (!_gone && !_c.closing) {
    (void)_c.session->reset_stream(_id, NGHTTP2_INTERNAL_ERROR);
    _c.kick();
  }
  _eof = true;
  gone();
}

task<void> serve_h2(byte_stream& s, std::string leftover, const request_handler& handler,
                    const connection_info& info, const server_options& opts, abort_source* stop) {
  h2_connection c{s, handler, info};
  h2_server_options o;
  o.max_request_body = opts.max_request_body;
  o.on_request = [&c](int32_t id, request req) {
    auto r = std::make_shared<h2_responder>(c, id);
    c.streams[id] = r;
    c.handlers.spawn(c.run_handler(std::move(req), r));
  };
  o.on_stream_close = [&c](int32_t id, uint32_t) {
    if (auto it = c.streams.find(id); it != c.streams.end()) {
      it->second->gone();
      c.streams.erase(it);
    }
  };
  auto sess = h2_server_session::create(std::move(o));
  if (!sess.ok()) {
    log_warn("h2_session_failed", {{"error", sess.err().message}});
    co_return;
  }
  c.session = std::move(*sess);
  gate io;
  io.spawn(c.writer());
  bool ok = true;
  if (!leftover.empty()) {
    ok = c.session->feed(leftover).ok();
    c.kick();
  }
  std::vector<char> buf(read_chunk);
  while (ok && !c.closing) {
    result<size_t> n = co_await s.read_some(buf, {.abort = stop, .timeout = opts.idle_timeout});
    if (!n.ok() || *n == 0) {
      break;
    }
    if (!c.session->feed(std::span<const char>(buf.data(), *n)).ok()) {
      ok = false;  // GOAWAY queued: let the writer send it
    }
    c.kick();
    if (!c.session->alive()) {
      break;
    }
  }
  c.closing = true;
  for (auto& [id, r] : c.streams) {
    r->gone();
  }
  c.kick();
  co_await io.close();
  co_await c.handlers.close();
  c.streams.clear();
}

}  // namespace

server::server(unique_fd listen_fd, server_options opts, request_handler handler)
    : _fd(std::move(listen_fd)),
      _opts(std::move(opts)),
      _handler(std::move(handler)),
      _acceptor(std::make_unique<acceptor>(_fd.get())) {}

server::~server() = default;

task<void> server::serve_connection(unique_fd fd, uint64_t id) {
  connection_info info;
  info.id = id;
  info.tls = _opts.tls != nullptr;
  info.peer.length = sizeof(info.peer.storage);
  ::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&info.peer.storage), &info.peer.length);
  std::unique_ptr<tls_session> tls;
  if (_opts.tls) {
    auto t = tls_session::server(_opts.tls);
    if (!t.ok()) {
      log_warn("tls_session_failed", {{"error", t.err().message}});
      co_return;
    }
    tls = std::move(*t);
  }
  byte_stream s(std::move(fd), std::move(tls));
  if (_opts.on_connect) {
    co_await _opts.on_connect(info);
  }
  if (!(co_await s.handshake({.abort = &_stop, .timeout = std::chrono::seconds(10)})).ok()) {
    co_return;
  }
  bool h2 = s.alpn() == "h2";
  info.server_name = s.server_name();
  std::string leftover;
  if (!s.is_tls() || s.alpn().empty()) {
    // Clear text (or TLS without ALPN): HTTP/2 with prior knowledge starts with the preface.
    std::vector<char> buf(read_chunk);
    while (leftover.size() < h2_preface.size()) {
      result<size_t> n =
          co_await s.read_some(buf, {.abort = &_stop, .timeout = _opts.idle_timeout});
      if (!n.ok() || *n == 0) {
        co_return;
      }
      leftover.append(buf.data(), *n);
      if (h2_preface.substr(0, std::min(leftover.size(), h2_preface.size())) !=
          std::string_view(leftover).substr(0, std::min(leftover.size(), h2_preface.size()))) {
        break;  // not the preface: HTTP/1.1
      }
    }
    h2 = leftover.size() >= h2_preface.size() && leftover.starts_with(h2_preface);
  }
  info.protocol = h2 ? "h2" : "http/1.1";
  if (h2) {
    co_await serve_h2(s, std::move(leftover), _handler, info, _opts, &_stop);
  } else {
    co_await serve_h1(s, std::move(leftover), _handler, info, _opts, &_stop);
  }
  co_await s.close();
  if (_opts.on_disconnect) {
    _opts.on_disconnect(info);
  }
}

task<void> server::serve() {
  for (;;) {
    result<unique_fd> conn = co_await _acceptor->accept();
    if (!conn.ok()) {
      if (_stop.aborted()) {
        break;  // stop() closed the acceptor
      }
      log_warn("accept_failed", {{"error", conn.err().message}});
      continue;
    }
    int one = 1;
    ::setsockopt(conn->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    _connections.spawn(serve_connection(std::move(*conn), ++_accepted));
  }
  co_await _connections.close();
}

task<void> server::stop() {
  _stop.request_abort();
  co_await _acceptor->close();
}

}  // namespace ossuring::http
