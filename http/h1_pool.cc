// HTTP/1.1 keep-alive pool: connection accounting, waiting for a slot, and one exchange on a
// connection (request head and body out, response parsed into the caller's sink).
#include "http/h1_pool.hh"

#include <sys/socket.h>

#include "http/h1_writer.hh"

namespace ossuring::http::detail {

namespace {

constexpr size_t io_chunk = 64 * 1024;
// Bodies up to this size are sent in the same write as the head.
constexpr size_t inline_body = 64 * 1024;

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

bool wants_length(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

}  // namespace

task<result<response>> h1_pool::send(exchange& ex, exchange_ctl& ctl) {
  bool retried = false;
  for (;;) {
    result<std::unique_ptr<conn>> c = co_await acquire(ctl);
    if (!c.ok()) {
      co_return std::move(c).err();
    }
    bool reusable = false;
    bool untouched = false;
    result<response> r = co_await run(**c, ex, ctl, reusable, untouched);
    _core.account(*(*c)->s, (*c)->read_mark, (*c)->write_mark);
    bool was_reused = (*c)->reused;
    release(std::move(*c), reusable && r.ok());
    // A pooled connection the server closed while idle fails before any response byte. Sending
    // again is safe when the request is idempotent and its body can be produced again.
    if (!r.ok() && untouched && was_reused && !retried && !ctl.aborted() && !ex.request_body &&
        idempotent(ex.req.method) && r.err().code != ETIMEDOUT) {
      retried = true;
      continue;
    }
    co_return r;
  }
}

void h1_pool::adopt(std::unique_ptr<byte_stream> s) {
  auto c = std::make_unique<conn>();
  c->s = std::move(s);
  ++_open;
  release(std::move(c), true);
}

bool h1_pool::stale(const conn& c) const {
  if (client_clock::now() - c.idle_since >= _core.opts.idle_timeout) {
    return true;
  }
  // An idle connection has nothing to read: EOF, an error or a TLS close_notify means the
  // server closed it; bytes would be unsolicited data. A server's keep-alive timer can close a
  // connection at any time, and the request sent on it then fails after its bytes went out,
  // which is not retried for a POST.
  return c.s->poll_closed();
}

task<result<std::unique_ptr<h1_pool::conn>>> h1_pool::acquire(exchange_ctl& ctl) {
  while (!_idle.empty()) {
    std::unique_ptr<conn> c = std::move(_idle.back());
    _idle.pop_back();
    if (stale(*c)) {
      --_open;  // its slot is taken over below
      continue;
    }
    c->reused = true;
    co_return c;
  }
  if (ctl.aborted()) {
    co_return ctl.cancelled();
  }
  if (_open < std::max(1u, _core.opts.max_h1_connections)) {
    ++_open;
    co_return co_await open(ctl);
  }
  waiter w;
  _waiters.push_back(&w);
  abort_subscription sub;
  sub.subscribe(ctl.abort(), [&w] { w.wake.request_abort(); });
  for (;;) {
    bool woke = co_await wait_for_wake(w.wake, ctl.budget(std::chrono::hours(1)));
    if (w.handed || w.may_connect) {
      break;
    }
    if (woke || ctl.past_deadline()) {
      std::erase(_waiters, &w);
      co_return ctl.aborted() ? ctl.cancelled()
                              : _core.peer_error(ETIMEDOUT, "timed out waiting for a connection");
    }
  }
  sub.unlink();
  if (w.handed) {
    if (ctl.aborted()) {
      release(std::move(w.handed), true);
      co_return ctl.cancelled();
    }
    w.handed->reused = true;
    co_return std::move(w.handed);
  }
  if (ctl.aborted()) {
    --_open;
    slot_freed();
    co_return ctl.cancelled();
  }
  co_return co_await open(ctl);
}

task<result<std::unique_ptr<h1_pool::conn>>> h1_pool::open(exchange_ctl& ctl) {
  result<std::unique_ptr<byte_stream>> s = co_await _core.connect(ctl.abort());
  if (!s.ok()) {
    --_open;
    slot_freed();
    co_return ctl.failure(std::move(s).err(), "connect");
  }
  _core.last_protocol = "http/1.1";
  auto c = std::make_unique<conn>();
  c->s = std::move(*s);
  co_return c;
}

void h1_pool::release(std::unique_ptr<conn> c, bool reusable) {
  if (reusable) {
    if (!_waiters.empty()) {
      waiter* w = _waiters.front();
      _waiters.pop_front();
      w->handed = std::move(c);
      w->wake.request_abort();
      return;
    }
    c->idle_since = client_clock::now();
    _idle.push_back(std::move(c));
    return;
  }
  c.reset();
  --_open;
  slot_freed();
}

void h1_pool::slot_freed() {
  if (!_waiters.empty() && _open < std::max(1u, _core.opts.max_h1_connections)) {
    waiter* w = _waiters.front();
    _waiters.pop_front();
    ++_open;
    w->may_connect = true;
    w->wake.request_abort();
  }
}

void h1_pool::prune() {
  auto now = client_clock::now();
  size_t before = _idle.size();
  std::erase_if(_idle, [&](const std::unique_ptr<conn>& c) {
    return now - c->idle_since >= _core.opts.idle_timeout;
  });
  _open -= static_cast<unsigned>(before - _idle.size());
}

void h1_pool::close_idle() {
  _open -= static_cast<unsigned>(_idle.size());
  _idle.clear();
}

task<status> h1_pool::send_request(conn& c, exchange& ex, exchange_ctl& ctl) {
  const bool streamed = static_cast<bool>(ex.request_body);
  const uint64_t length = streamed ? ex.request_body_length : ex.req.body.size();
  body_framing framing = body_framing::none();
  if (streamed || !ex.req.body.empty() || wants_length(ex.req.method)) {
    framing = body_framing::content_length(length);
  }
  std::string head;
  if (status st = write_request_head(head, ex.req, framing); !st.ok()) {
    co_return st;
  }
  op_options o{.abort = ctl.abort(), .timeout = ctl.budget(_core.opts.first_byte_timeout)};
  if (!streamed && ex.req.body.size() <= inline_body) {
    head += ex.req.body;
    co_return co_await c.s->write_all(std::string_view(head), o);
  }
  if (status st = co_await c.s->write_all(std::string_view(head), o); !st.ok()) {
    co_return st;
  }
  if (!streamed) {
    co_return co_await c.s->write_all(std::string_view(ex.req.body), o);
  }
  uint64_t sent = 0;
  for (;;) {
    result<body_chunk> chunk = ex.request_body(std::span<char>(c.buf.data(), c.buf.size()));
    if (!chunk.ok()) {
      co_return std::move(chunk).err();
    }
    if (chunk->deferred && chunk->bytes == 0 && !chunk->eof) {
      co_return make_error(EINVAL, "http/1.1: a deferred request body source is not supported");
    }
    sent += chunk->bytes;
    if (sent > length) {
      co_return make_error(EINVAL, "request body longer than request_body_length");
    }
    if (chunk->bytes > 0) {
      o.timeout = ctl.budget(_core.opts.first_byte_timeout);
      status st = co_await c.s->write_all(std::span<const char>(c.buf.data(), chunk->bytes), o);
      if (!st.ok()) {
        co_return st;
      }
    }
    if (chunk->eof) {
      break;
    }
  }
  if (sent != length) {
    co_return make_error(EINVAL, "request body shorter than request_body_length");
  }
  co_return status{};
}

task<result<response>> h1_pool::run(conn& c, exchange& ex, exchange_ctl& ctl, bool& reusable,
                                    bool& untouched) {
  reusable = false;
  untouched = true;
  if (c.buf.size() < io_chunk) {
    c.buf.resize(io_chunk);
  }
  if (status st = co_await send_request(c, ex, ctl); !st.ok()) {
    if (st.err().code == EINVAL) {
      untouched = false;  // our own mistake: do not retry
      co_return _core.peer_error(EINVAL, st.err().message);
    }
    co_return ctl.failure(std::move(st).err(), "send request");
  }
  h1_response_parser parser;
  parser.start(ex.req.method);
  response resp;
  bool sink_set = false;
  size_t pos = 0;
  size_t end = 0;
  for (;;) {
    if (pos == end) {
      op_options o{.abort = ctl.abort(), .timeout = ctl.budget(_core.opts.first_byte_timeout)};
      result<size_t> n = co_await c.s->read_some(std::span<char>(c.buf.data(), c.buf.size()), o);
      if (!n.ok()) {
        co_return ctl.failure(std::move(n).err(), "receive response");
      }
      if (*n == 0) {
        if (untouched) {
          co_return _core.peer_error(ECONNRESET, "connection closed before a response");
        }
        if (status st = parser.feed_eof(); !st.ok()) {
          co_return ctl.failure(std::move(st).err(), "receive response");
        }
        if (!parser.complete()) {
          co_return _core.peer_error(EPROTO, "response truncated");
        }
        break;
      }
      untouched = false;
      pos = 0;
      end = *n;
    }
    result<size_t> used = parser.feed(std::span<const char>(c.buf.data() + pos, end - pos));
    if (!used.ok()) {
      co_return ctl.failure(std::move(used).err(), "receive response");
    }
    pos += *used;
    if (parser.head_complete() && !sink_set) {
      sink_set = true;
      resp.status = parser.head().status;
      resp.headers = parser.head().headers;
      if (ex.response_body) {
        parser.set_body_sink(ex.response_body);
      } else {
        const uint64_t limit = ex.max_body;
        if (parser.body_kind() == h1_body_kind::length) {
          if (parser.content_length() > limit) {
            co_return _core.peer_error(EMSGSIZE, body_over_limit(parser.content_length(), limit));
          }
          resp.body.reserve(parser.content_length());
        }
        // Chunked or until close: refused the moment it passes the limit.
        parser.set_body_sink(
            [&resp, limit](std::span<const char> d) { return append_within(resp.body, d, limit); });
      }
    }
    if (parser.complete()) {
      break;
    }
  }
  // Bytes after the response would belong to nothing we asked for: do not reuse.
  reusable =
      parser.keep_alive() && pos == end && !iequals(ex.req.headers.get("connection"), "close");
  co_return resp;
}

}  // namespace ossuring::http::detail
