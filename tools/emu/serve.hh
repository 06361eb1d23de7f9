// Carries out an emulator response over an HTTP connection: added latency, time to first byte,
// bandwidth pacing (per connection and in total) and injected faults (resets, truncation, wrong
// lengths, stalls), identically over HTTP/1.1 and HTTP/2.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "http/server.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

class http_frontend {
 public:
  explicit http_frontend(handler& h) : _h(h) {}

  // The request handler for http::server; `admin` selects the admin API.
  http::request_handler make_handler(bool admin);
  // Per-connection hooks for http::server_options (connect delay, bandwidth buckets).
  std::function<task<void>(const http::connection_info&)> on_connect();
  std::function<void(const http::connection_info&)> on_disconnect();

 private:
  task<void> serve(http::request& req, http::responder& out, const http::connection_info& c,
                   bool admin);
  task<void> pace(uint64_t conn_id, size_t bytes);
  // Body buffers (64 KiB) are recycled: a fresh one per response cost a large malloc each.
  std::unique_ptr<std::byte[]> take_buffer();
  void return_buffer(std::unique_ptr<std::byte[]> b);

  static constexpr size_t max_spare_buffers = 64;

  handler& _h;
  std::map<uint64_t, std::unique_ptr<token_bucket>> _conn_buckets;
  std::vector<std::unique_ptr<std::byte[]>> _spare_buffers;
};

}  // namespace ossuring::emu
