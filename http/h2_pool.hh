// HTTP/2 connections of one client: streams spread over up to h2_connections connections within
// the server's stream limit, a reader and a writer coroutine per connection (in the client's
// gate), GOAWAY moving new requests to a new connection, PING keep-alive and idle close.
#pragma once

#include <memory>
#include <vector>

#include "http/client_core.hh"
#include "http/h2_client.hh"

namespace ossuring::http::detail {

class h2_pool {
 public:
  explicit h2_pool(client_core& core) : _core(core) {}
  h2_pool(const h2_pool&) = delete;
  h2_pool& operator=(const h2_pool&) = delete;
  ~h2_pool();

  task<result<response>> send(exchange& ex, exchange_ctl& ctl);
  // Starts HTTP/2 on a connected stream (ALPN chose h2, or prior knowledge).
  status adopt(std::unique_ptr<byte_stream> s);
  // Keep-alive and idle close: PINGs connections that were quiet, closes those whose PING went
  // unanswered and those without streams for idle_timeout. Called periodically.
  void tick(std::chrono::nanoseconds period);
  // Ends every connection; their streams fail.
  void close_all();
  size_t connections() const { return _conns.size(); }

 private:
  struct conn;
  struct stream_state;

  // A connection with a free stream, preferring the least loaded; null when none.
  std::shared_ptr<conn> pick();
  task<void> reader(std::shared_ptr<conn> c);
  task<void> writer(std::shared_ptr<conn> c);
  void connection_ended(conn& c, const error& why);
  // Wakes every request waiting for stream capacity (they look again).
  void notify();
  task<result<response>> run_stream(std::shared_ptr<conn> c, exchange& ex, exchange_ctl& ctl,
                                    bool& refused);

  client_core& _core;
  std::vector<std::shared_ptr<conn>> _conns;
  unsigned _connecting = 0;
  std::vector<abort_source*> _waiters;
  uint64_t _next_id = 0;
};

}  // namespace ossuring::http::detail
