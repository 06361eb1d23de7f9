// The emulator's HTTP front end: executes handler responses with latency, pacing and faults.
#include "tools/emu/serve.hh"

#include <algorithm>
#include <charconv>
#include <memory>
#include <vector>

#include "core/io.hh"

namespace ossuring::emu {

namespace {
constexpr size_t chunk_size = 64 * 1024;
}  // namespace

http::request_handler http_frontend::make_handler(bool admin) {
  return [this, admin](http::request& req, http::responder& out,
                       const http::connection_info& c) -> task<void> {
    return serve(req, out, c, admin);
  };
}

std::function<task<void>(const http::connection_info&)> http_frontend::on_connect() {
  return [this](const http::connection_info& c) -> task<void> {
    if (auto b = _h.fault_model().make_connection_bucket()) {
      _conn_buckets[c.id] = std::move(b);
    }
    std::chrono::milliseconds d = _h.fault_model().connect_delay();
    if (d.count() > 0) {
      co_await sleep_for(d);
    }
  };
}

std::function<void(const http::connection_info&)> http_frontend::on_disconnect() {
  return [this](const http::connection_info& c) { _conn_buckets.erase(c.id); };
}

std::unique_ptr<std::byte[]> http_frontend::take_buffer() {
  if (_spare_buffers.empty()) {
    return std::unique_ptr<std::byte[]>(new std::byte[chunk_size]);
  }
  std::unique_ptr<std::byte[]> b = std::move(_spare_buffers.back());
  _spare_buffers.pop_back();
  return b;
}

void http_frontend::return_buffer(std::unique_ptr<std::byte[]> b) {
  if (b && _spare_buffers.size() < max_spare_buffers) {
    _spare_buffers.push_back(std::move(b));
  }
}

task<void> http_frontend::pace(uint64_t conn_id, size_t bytes) {
  auto now = clock_type::now();
  std::chrono::nanoseconds wait{0};
  if (auto it = _conn_buckets.find(conn_id); it != _conn_buckets.end()) {
    wait = std::max(wait, it->second->take(static_cast<double>(bytes), now));
  }
  if (auto total = _h.fault_model().total_bucket()) {
    wait = std::max(wait, total->take(static_cast<double>(bytes), now));
  }
  if (wait.count() > 0) {
    co_await sleep_for(wait);
  }
}

task<void> http_frontend::serve(http::request& req, http::responder& out,
                                const http::connection_info& c, bool admin) {
  if (!admin) {
    _h.stats().count_transport(c.protocol, c.server_name);
  }
  response r = _h.handle(req, admin);
  if (r.latency.count() > 0) {
    co_await sleep_for(r.latency);
  }
  // The handler states Content-Length (for HEAD, what a GET would send; under the
  // wrong_content_length fault, more than the body): announce exactly that.
  uint64_t announced = r.body_size();
  if (auto cl = r.headers.find("Content-Length")) {
    std::from_chars(cl->data(), cl->data() + cl->size(), announced);
  }
  r.headers.remove("Content-Length");
  if (!(co_await out.send_head(r.status, r.headers, announced, r.head)).ok()) {
    co_return;
  }
  if (r.head) {
    (void)co_await out.finish();
    co_return;
  }
  uint64_t body = r.body_size();
  uint64_t limit = body;
  const fault_action& f = r.fault;
  if (f.kind == fault_kind::reset_after_bytes || f.kind == fault_kind::truncate_body) {
    limit = std::min<uint64_t>(body, f.bytes ? f.bytes : body / 2);
  }
  // The head goes out before any pause, as a server that answers and then dawdles would send it.
  bool pauses = r.ttfb.count() > 0 || f.kind == fault_kind::stall || _conn_buckets.contains(c.id) ||
                _h.fault_model().total_bucket() != nullptr;
  if (pauses && !(co_await out.flush()).ok()) {
    co_return;
  }
  if (r.ttfb.count() > 0) {
    co_await sleep_for(r.ttfb);
  }
  if (f.kind == fault_kind::stall) {
    co_await sleep_for(f.stall.count() > 0 ? f.stall : std::chrono::milliseconds(60000));
  }
  // From the spare list: no allocation (or zero-filling) per response.
  std::unique_ptr<std::byte[]> buf;
  if (r.stream && limit > 0) {
    buf = take_buffer();
  }
  struct give_back {
    http_frontend& f;
    std::unique_ptr<std::byte[]>& b;
    ~give_back() { f.return_buffer(std::move(b)); }
  } returned{*this, buf};
  uint64_t sent = 0;
  while (sent < limit) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_size, limit - sent));
    std::span<const char> piece;
    if (r.stream) {
      n = r.stream->read(sent, std::span<std::byte>(buf.get(), n));
      if (n == 0) {
        break;
      }
      piece = {reinterpret_cast<const char*>(buf.get()), n};
    } else {
      piece = {r.body.data() + sent, n};
    }
    co_await pace(c.id, n);
    if (!(co_await out.send_body(piece)).ok()) {
      co_return;
    }
    sent += n;
  }
  if (f.kind == fault_kind::reset_after_bytes) {
    out.abort();
    co_return;
  }
  (void)co_await out.finish();
}

}  // namespace ossuring::emu
