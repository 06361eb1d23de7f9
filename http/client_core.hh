// What the HTTP/1.1 pool and the HTTP/2 connections of one http::client share: the endpoint and
// options, the TLS context, statistics, the close signal, the gate background coroutines run in,
// and the per-exchange control block (cancellation and deadlines).
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>

#include "core/abort.hh"
#include "core/gate.hh"
#include "core/io.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "http/client.hh"
#include "http/stream.hh"
#include "http/tls.hh"

namespace ossuring::http::detail {

using client_clock = std::chrono::steady_clock;

struct client_core {
  endpoint ep;
  client_options opts;
  std::shared_ptr<tls_context> tls;  // null in clear text
  client_stats stats;
  std::string last_protocol;
  abort_source closing;  // fired by client::close()
  gate background;       // HTTP/2 reader/writer coroutines and the maintenance loop

  // Opens a TCP connection (and runs the TLS handshake), bounded by connect_timeout and `abort`.
  task<result<std::unique_ptr<byte_stream>>> connect(abort_source* abort);
  // An error whose message names the peer: "<what> (https://host:443)".
  error peer_error(int code, std::string_view what) const;
  // Adds what `s` transferred since the marks to the statistics and advances the marks.
  void account(const byte_stream& s, uint64_t& read_mark, uint64_t& write_mark);
};

// One exchange in flight: one abort source fired by the caller's abort_source or by the client
// closing, and the deadline of the whole exchange (exchange.timeout).
class exchange_ctl {
 public:
  exchange_ctl(client_core& core, exchange& ex);
  exchange_ctl(const exchange_ctl&) = delete;
  exchange_ctl& operator=(const exchange_ctl&) = delete;

  abort_source* abort() { return &_abort; }
  bool aborted() const { return _abort.aborted(); }
  // A wait of at most `step`, shortened to what is left of the exchange's deadline.
  std::chrono::nanoseconds budget(std::chrono::nanoseconds step) const;
  bool past_deadline() const { return client_clock::now() >= _deadline; }
  // Maps a failure of an operation run with abort() to what the caller sees: ECANCELED when the
  // caller (or close()) cancelled, ETIMEDOUT on a deadline, else `e` with the peer named.
  error failure(error e, std::string_view what) const;
  error cancelled() const;

 private:
  client_core& _core;
  abort_source _abort;
  abort_subscription _user;
  abort_subscription _closing;
  bool _user_aborted = false;
  client_clock::time_point _deadline;
};

// The message of a response body refused for passing exchange::max_body.
std::string body_over_limit(uint64_t bytes, uint64_t limit);

// Appends `d` to a body kept in memory, or refuses it (EMSGSIZE) when the body would pass `limit`.
// The capacity never passes `limit`, and a body of unknown length (chunked, or an endless one)
// that passes 4 MiB is moved once into a buffer of the limit's size: std::string's doubling
// would reserve up to twice the limit, and leave its smaller buffers in the heap (measured: an
// endless body peaked at 195 MiB of RSS for a 64 MiB limit with doubling capped at the limit).
status append_within(std::string& body, std::span<const char> d, uint64_t limit);

// Waits until `wake` fires or `timeout` passes. Returns true when woken, false on the timeout.
task<bool> wait_for_wake(abort_source& wake, std::chrono::nanoseconds timeout);

}  // namespace ossuring::http::detail
