// Connection set-up, error naming and exchange control shared by the client's protocol pools.
#include "http/client_core.hh"

#include <algorithm>
#include <cstring>

#include "core/net.hh"

namespace ossuring::http::detail {

task<result<std::unique_ptr<byte_stream>>> client_core::connect(abort_source* abort) {
  op_options o{.abort = abort, .timeout = opts.connect_timeout};
  result<unique_fd> fd = co_await tcp_connect(ep.host, ep.port, o);
  if (!fd.ok()) {
    error e = std::move(fd).err();
    co_return peer_error(e.code, e.message);
  }
  std::unique_ptr<tls_session> session;
  if (tls) {
    auto t = tls_session::client(tls, ep.host, ep.port);
    if (!t.ok()) {
      error e = std::move(t).err();
      co_return peer_error(e.code, e.message);
    }
    session = std::move(*t);
  }
  auto s = std::make_unique<byte_stream>(std::move(*fd), std::move(session));
  if (status st = co_await s->handshake(o); !st.ok()) {
    error e = std::move(st).err();
    co_return peer_error(e.code, "TLS handshake: " + e.message);
  }
  ++stats.connections_opened;
  if (s->session_reused()) {
    ++stats.tls_sessions_resumed;
  }
  co_return s;
}

error client_core::peer_error(int code, std::string_view what) const {
  return make_error(code, std::string(what) + " (" + ep.to_string() + ")");
}

void client_core::account(const byte_stream& s, uint64_t& read_mark, uint64_t& write_mark) {
  stats.bytes_received += s.bytes_read() - read_mark;
  stats.bytes_sent += s.bytes_written() - write_mark;
  read_mark = s.bytes_read();
  write_mark = s.bytes_written();
}

exchange_ctl::exchange_ctl(client_core& core, exchange& ex) : _core(core) {
  _user.subscribe(ex.abort, [this] {
    _user_aborted = true;
    _abort.request_abort();
  });
  _closing.subscribe(&core.closing, [this] { _abort.request_abort(); });
  auto whole = ex.timeout.count() > 0 ? std::chrono::nanoseconds(ex.timeout)
                                      : std::chrono::nanoseconds(std::chrono::hours(24 * 365));
  _deadline = client_clock::now() + whole;
}

std::chrono::nanoseconds exchange_ctl::budget(std::chrono::nanoseconds step) const {
  auto left = _deadline - client_clock::now();
  auto d = std::min<std::chrono::nanoseconds>(step, left);
  // A non-positive timeout would mean "no deadline" to the io layer.
  return std::max<std::chrono::nanoseconds>(d, std::chrono::nanoseconds(1));
}

error exchange_ctl::cancelled() const {
  return _core.peer_error(
      ECANCELED, _user_aborted || !_core.closing.aborted() ? "request cancelled" : "client closed");
}

error exchange_ctl::failure(error e, std::string_view what) const {
  if (_abort.aborted()) {
    return cancelled();
  }
  if (e.code == ETIMEDOUT || e.code == ECANCELED) {
    return _core.peer_error(ETIMEDOUT, std::string(what) + ": timed out");
  }
  if (e.message.find(_core.ep.to_string()) != std::string::npos) {
    return e;  // already names the peer
  }
  return _core.peer_error(e.code, std::string(what) + ": " + e.message);
}

std::string body_over_limit(uint64_t bytes, uint64_t limit) {
  return "response body of " + std::to_string(bytes) + " bytes or more is over the " +
         std::to_string(limit) + "-byte limit for a body kept in memory";
}

status append_within(std::string& body, std::span<const char> d, uint64_t limit) {
  const uint64_t needed = uint64_t{body.size()} + d.size();
  if (needed > limit) {
    return make_error(EMSGSIZE, body_over_limit(needed, limit));
  }
  // Past a few MiB (a listing page is ~250 KB) the body goes straight to the cap's size, once:
  // growing by doubling would leave every smaller buffer behind in the heap and keep the old
  // one alive during each copy. std::string::reserve doubles whatever it is asked for; a fresh
  // string takes the exact size.
  constexpr uint64_t doubling_until = uint64_t{4} << 20;
  if (needed > body.capacity() &&
      (needed > doubling_until || 2 * uint64_t{body.capacity()} > limit)) {
    std::string grown;
    grown.reserve(static_cast<size_t>(limit));
    grown.append(body);
    body.swap(grown);
  }
  body.append(d.data(), d.size());
  return {};
}

task<bool> wait_for_wake(abort_source& wake, std::chrono::nanoseconds timeout) {
  int r = co_await sleep_for(timeout, &wake);
  co_return r != 0 || wake.aborted();
}

}  // namespace ossuring::http::detail
