// HTTP/1.1 keep-alive pool of one client: bounded connections, LIFO reuse of idle ones, idle
// close, and a FIFO of requests waiting for a free connection when at the bound.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "http/client_core.hh"
#include "http/h1_parser.hh"

namespace ossuring::http::detail {

class h1_pool {
 public:
  explicit h1_pool(client_core& core) : _core(core) {}
  h1_pool(const h1_pool&) = delete;
  h1_pool& operator=(const h1_pool&) = delete;

  task<result<response>> send(exchange& ex, exchange_ctl& ctl);
  // Takes a freshly connected stream (from protocol negotiation) as an idle connection.
  void adopt(std::unique_ptr<byte_stream> s);
  // Closes connections idle for longer than idle_timeout.
  void prune();
  // Closes every idle connection (connections in use close when their exchange ends).
  void close_idle();
  size_t idle_count() const { return _idle.size(); }

 private:
  struct conn {
    std::unique_ptr<byte_stream> s;
    std::vector<char> buf;
    client_clock::time_point idle_since;
    uint64_t read_mark = 0;
    uint64_t write_mark = 0;
    bool reused = false;
  };
  // A request waiting for a connection: handed an idle one, or allowed to open a new one.
  struct waiter {
    abort_source wake;
    std::unique_ptr<conn> handed;
    bool may_connect = false;
  };

  task<result<std::unique_ptr<conn>>> acquire(exchange_ctl& ctl);
  task<result<std::unique_ptr<conn>>> open(exchange_ctl& ctl);
  // Returns a connection after an exchange: kept for reuse or closed (freeing its slot).
  void release(std::unique_ptr<conn> c, bool reusable);
  void slot_freed();
  bool stale(const conn& c) const;
  // One exchange on `c`. `reusable` tells whether the response was read completely with
  // keep-alive; `untouched` whether the server sent nothing at all (a stale connection).
  task<result<response>> run(conn& c, exchange& ex, exchange_ctl& ctl, bool& reusable,
                             bool& untouched);
  task<status> send_request(conn& c, exchange& ex, exchange_ctl& ctl);

  client_core& _core;
  std::vector<std::unique_ptr<conn>> _idle;  // most recently used last
  std::deque<waiter*> _waiters;
  unsigned _open = 0;  // connections counted against the bound: idle, in use and connecting
};

}  // namespace ossuring::http::detail
