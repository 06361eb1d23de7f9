// HTTP/2 connections: stream placement, per-connection reader and writer coroutines, stream
// waits with first-byte and stall timeouts, cancellation, GOAWAY and keep-alive.
#include "http/h2_pool.hh"

#include <algorithm>
#include <charconv>

#include "core/event.hh"
#include "core/log.hh"

namespace ossuring::http::detail {

namespace {
constexpr size_t read_chunk = 256 * 1024;
}  // namespace

struct h2_pool::conn {
  uint64_t id = 0;
  std::unique_ptr<byte_stream> s;
  std::unique_ptr<h2_client_session> sess;
  event wake;         // the writer has frames to send
  abort_source stop;  // ends the reader's and the writer's socket operations
  bool dead = false;
  bool goaway = false;
  bool ping_outstanding = false;
  client_clock::time_point last_read;
  client_clock::time_point last_used;
  client_clock::time_point ping_sent;
  uint64_t read_mark = 0;
  uint64_t write_mark = 0;

  void kick() { wake.set(); }
  bool usable() const { return !dead && !goaway; }
};

// Lives in the frame of run_stream(); the session's callbacks point at it until the stream
// closes or is cancelled (after which nghttp2 calls none of them).
struct h2_pool::stream_state {
  response resp;
  bool have_head = false;
  bool done = false;
  bool pulled = false;
  status result;
  uint64_t bytes = 0;         // response body bytes received
  uint64_t pulled_bytes = 0;  // request body bytes handed to the session (flow control paces it)
  uint64_t announced = 0;     // a Content-Length over exchange::max_body, refused
  abort_source* wake = nullptr;
};

h2_pool::~h2_pool() = default;

std::shared_ptr<h2_pool::conn> h2_pool::pick() {
  // Connections past their idle time are closed here too, not only by the periodic tick.
  auto now = client_clock::now();
  std::vector<std::shared_ptr<conn>> expired;
  for (const std::shared_ptr<conn>& c : _conns) {
    if (c->sess->open_streams() == 0 && now - c->last_used >= _core.opts.idle_timeout) {
      expired.push_back(c);
    }
  }
  for (const std::shared_ptr<conn>& c : expired) {
    connection_ended(*c, _core.peer_error(ECONNRESET, "http2: idle connection closed"));
  }
  std::shared_ptr<conn> best;
  for (const std::shared_ptr<conn>& c : _conns) {
    if (!c->usable() || c->sess->available_streams() == 0) {
      continue;
    }
    if (!best || c->sess->open_streams() < best->sess->open_streams()) {
      best = c;
    }
  }
  return best;
}

void h2_pool::notify() {
  std::vector<abort_source*> w;
  w.swap(_waiters);
  for (abort_source* a : w) {
    a->request_abort();
  }
}

task<result<response>> h2_pool::send(exchange& ex, exchange_ctl& ctl) {
  bool retried = false;
  const unsigned max_conns = std::max(1u, _core.opts.h2_connections);
  for (;;) {
    if (ctl.aborted()) {
      co_return ctl.cancelled();
    }
    std::shared_ptr<conn> c = pick();
    unsigned live = static_cast<unsigned>(
        std::count_if(_conns.begin(), _conns.end(), [](const auto& x) { return x->usable(); }));
    if (!c && live + _connecting < max_conns) {
      // No connection can take the stream: open one now, and report its failure to the caller.
      ++_connecting;
      result<std::unique_ptr<byte_stream>> s = co_await _core.connect(ctl.abort());
      --_connecting;
      status st = s.ok() ? adopt(std::move(*s)) : status(std::move(s).err());
      notify();
      if (!st.ok()) {
        co_return ctl.failure(std::move(st).err(), "connect");
      }
      continue;
    }
    if (!c) {
      abort_source w;
      _waiters.push_back(&w);
      abort_subscription sub;
      sub.subscribe(ctl.abort(), [&w] { w.request_abort(); });
      bool woke = co_await wait_for_wake(w, ctl.budget(std::chrono::hours(1)));
      std::erase(_waiters, &w);
      if (ctl.aborted()) {
        co_return ctl.cancelled();
      }
      if (!woke && ctl.past_deadline()) {
        co_return _core.peer_error(ETIMEDOUT, "http2: timed out waiting for a stream");
      }
      continue;
    }
    if (c->sess->open_streams() > 0 && live + _connecting < max_conns &&
        !_core.background.closed() && !_core.closing.aborted()) {
      // Spread load: grow to h2_connections in the background while this stream goes out now.
      ++_connecting;
      _core.background.spawn([](h2_pool& p) -> task<void> {
        result<std::unique_ptr<byte_stream>> s = co_await p._core.connect(&p._core.closing);
        --p._connecting;
        if (s.ok()) {
          if (status st = p.adopt(std::move(*s)); !st.ok()) {
            log_warn("h2_connect_failed", {{"error", st.err().message}});
          }
        }
        p.notify();
      }(*this));
    }
    bool refused = false;
    result<response> r = co_await run_stream(std::move(c), ex, ctl, refused);
    if (!r.ok() && refused && !retried) {
      retried = true;  // GOAWAY or REFUSED_STREAM: the server did not process it
      continue;
    }
    co_return r;
  }
}

task<result<response>> h2_pool::run_stream(std::shared_ptr<conn> c, exchange& ex, exchange_ctl& ctl,
                                           bool& refused) {
  stream_state st;
  h2_stream_callbacks cbs;
  cbs.on_head = [&st, &ex](response& h) {
    st.resp.status = h.status;
    st.resp.headers = std::move(h.headers);
    st.have_head = true;
    // A body kept in memory (a listing page: ~220 KB) is sized once rather than grown in steps.
    uint64_t length = 0;
    std::string_view cl = st.resp.headers.get("content-length");
    auto [end, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), length);
    if (!ex.response_body && ec == std::errc() && end == cl.data() + cl.size() && !cl.empty()) {
      if (length > ex.max_body) {
        st.announced = length;  // refused at its first DATA frame, before a byte is kept
      } else {
        st.resp.body.reserve(static_cast<size_t>(length));
      }
    }
  };
  cbs.on_data = [&st, &ex](std::span<const char> d) -> status {
    st.bytes += d.size();
    if (ex.response_body) {
      return ex.response_body(d);
    }
    if (st.announced > ex.max_body) {
      return make_error(EMSGSIZE, body_over_limit(st.announced, ex.max_body));
    }
    return append_within(st.resp.body, d, ex.max_body);
  };
  cbs.on_close = [&st](status s) {
    st.done = true;
    st.result = std::move(s);
    if (st.wake) {
      st.wake->request_abort();
    }
  };
  body_pull body;
  const request* req = &ex.req;
  request with_length;
  if (ex.request_body) {
    body = [&st, &ex](std::span<char> b) {
      st.pulled = true;
      result<body_chunk> c = ex.request_body(b);
      if (c) {
        st.pulled_bytes += c->bytes;
      }
      return c;
    };
    if (!ex.req.headers.has("content-length")) {
      with_length = ex.req;
      with_length.headers.set("content-length", std::to_string(ex.request_body_length));
      req = &with_length;
    }
  }
  result<int32_t> id = c->sess->submit(*req, std::move(cbs), std::move(body));
  if (!id.ok()) {
    if (id.err().code == EAGAIN) {
      c->goaway = true;
      refused = true;
    }
    co_return _core.peer_error(id.err().code, id.err().message);
  }
  ++_core.stats.h2_requests;
  c->last_used = client_clock::now();
  c->kick();

  // One timer per first_byte_timeout period: it fails the stream when nothing moved in a whole
  // period (no head yet: first-byte timeout; head seen: a stall) or the exchange's deadline
  // passed. A request body still going out is movement: a large upload is not a silent server.
  uint64_t mark = 0;
  uint64_t pulled_mark = 0;
  bool head_mark = false;
  while (!st.done) {
    abort_source w;
    st.wake = &w;
    abort_subscription sub;
    sub.subscribe(ctl.abort(), [&w] { w.request_abort(); });
    bool woke = co_await wait_for_wake(w, ctl.budget(_core.opts.first_byte_timeout));
    st.wake = nullptr;
    sub.unlink();
    if (st.done) {
      break;
    }
    bool timed_out =
        !woke && (ctl.past_deadline() || (st.bytes == mark && st.pulled_bytes == pulled_mark &&
                                          st.have_head == head_mark));
    if (ctl.aborted() || timed_out) {
      c->sess->cancel(*id);
      c->kick();
      notify();
      if (ctl.aborted()) {
        co_return ctl.cancelled();
      }
      co_return _core.peer_error(
          ETIMEDOUT, st.have_head ? "http2: response body stalled" : "http2: no response in time");
    }
    mark = st.bytes;
    pulled_mark = st.pulled_bytes;
    head_mark = st.have_head;
  }
  c->last_used = client_clock::now();
  notify();
  if (!st.result.ok()) {
    error e = std::move(st.result).err();
    if (e.code == EAGAIN) {
      c->goaway = true;
      refused = !st.pulled;
    }
    if (ctl.aborted() && e.code == ECANCELED) {
      co_return ctl.cancelled();
    }
    if (e.message.find(_core.ep.to_string()) != std::string::npos) {
      co_return e;
    }
    co_return _core.peer_error(e.code, e.message);
  }
  co_return std::move(st.resp);
}

status h2_pool::adopt(std::unique_ptr<byte_stream> s) {
  if (s->is_tls() && s->alpn() != "h2") {
    return _core.peer_error(EPROTO, "server did not negotiate h2 (ALPN '" + s->alpn() + "')");
  }
  if (_core.background.closed() || _core.closing.aborted()) {
    return _core.peer_error(ECANCELED, "client closed");
  }
  auto c = std::make_shared<conn>();
  c->id = ++_next_id;
  c->s = std::move(s);
  h2_client_options o;
  o.scheme = c->s->is_tls() ? "https" : "http";
  conn* raw = c.get();
  o.events.on_goaway = [this, raw](int32_t, uint32_t) {
    raw->goaway = true;
    notify();
  };
  o.events.on_ping_ack = [this, raw] {
    raw->ping_outstanding = false;
    ++_core.stats.h2_ping_acks;
  };
  o.events.on_settings = [this] { notify(); };
  auto sess = h2_client_session::create(std::move(o));
  if (!sess.ok()) {
    return _core.peer_error(sess.err().code, sess.err().message);
  }
  c->sess = std::move(*sess);
  c->last_read = c->last_used = client_clock::now();
  _conns.push_back(c);
  _core.last_protocol = "h2";
  _core.background.spawn(writer(c));
  _core.background.spawn(reader(c));
  c->kick();
  return {};
}

task<void> h2_pool::reader(std::shared_ptr<conn> c) {
  std::vector<char> buf(read_chunk);
  error why = _core.peer_error(ECONNRESET, "http2: the server closed the connection");
  while (!c->dead) {
    result<size_t> n = co_await c->s->read_some(std::span<char>(buf), {.abort = &c->stop});
    if (!n.ok()) {
      if (!c->dead) {
        why = _core.peer_error(n.err().code, "http2: receive: " + n.err().message);
      }
      break;
    }
    if (*n == 0) {
      break;
    }
    c->last_read = client_clock::now();
    status st = c->sess->feed(std::span<const char>(buf.data(), *n));
    _core.account(*c->s, c->read_mark, c->write_mark);
    c->kick();
    if (!st.ok()) {
      why = _core.peer_error(EPROTO, st.err().message);
      break;
    }
    if (!_waiters.empty()) {
      notify();  // streams closed or settings changed: capacity may have appeared
    }
    if (!c->sess->alive()) {
      why = _core.peer_error(ECONNRESET, "http2: the server ended the connection");
      break;
    }
  }
  connection_ended(*c, why);
}

task<void> h2_pool::writer(std::shared_ptr<conn> c) {
  for (;;) {
    while (!c->dead && c->sess->has_output()) {
      auto out = c->sess->output_pieces();
      if (!out.ok()) {
        connection_ended(*c, _core.peer_error(EPROTO, out.err().message));
        co_return;
      }
      if (out->empty()) {
        break;
      }
      size_t bytes = c->sess->output_bytes();
      // The view stays valid while we wait: only this coroutine calls output_pieces().
      status st = co_await c->s->write_all(*out, {.abort = &c->stop});
      if (!st.ok()) {
        connection_ended(*c, _core.peer_error(st.err().code, "http2: send: " + st.err().message));
        co_return;
      }
      c->sess->consume_output(bytes);
      _core.account(*c->s, c->read_mark, c->write_mark);
    }
    if (c->dead) {
      co_return;
    }
    c->wake.reset();
    co_await c->wake.wait();
  }
}

void h2_pool::connection_ended(conn& c, const error& why) {
  if (c.dead) {
    return;
  }
  c.dead = true;
  c.stop.request_abort();
  c.kick();
  c.sess->fail_all(why);
  std::erase_if(_conns, [&](const std::shared_ptr<conn>& x) { return x.get() == &c; });
  notify();
}

void h2_pool::close_all() {
  std::vector<std::shared_ptr<conn>> all = _conns;
  for (const std::shared_ptr<conn>& c : all) {
    connection_ended(*c, _core.peer_error(ECANCELED, "client closed"));
  }
}

void h2_pool::tick(std::chrono::nanoseconds period) {
  auto now = client_clock::now();
  std::vector<std::shared_ptr<conn>> all = _conns;
  for (const std::shared_ptr<conn>& c : all) {
    if (c->dead) {
      continue;
    }
    if (c->sess->open_streams() == 0 &&
        (c->goaway || now - c->last_used >= _core.opts.idle_timeout)) {
      connection_ended(*c, _core.peer_error(ECONNRESET, "http2: idle connection closed"));
    } else if (c->ping_outstanding && now - c->ping_sent >= 2 * period) {
      connection_ended(*c, _core.peer_error(ETIMEDOUT, "http2: PING unanswered"));
    } else if (!c->ping_outstanding && now - c->last_read >= period) {
      if (c->sess->ping().ok()) {
        ++_core.stats.h2_pings_sent;
        c->ping_outstanding = true;
        c->ping_sent = now;
        c->kick();
      }
    }
  }
}

}  // namespace ossuring::http::detail
