// The emulator's misbehaviour model: latency, time to first byte, connection delay, bandwidth
// token buckets, an account QPS limit and injected faults. handle() asks for a decision; the
// connection driver executes it (delays, pacing, resets), so faults work the same on HTTP/1.1 and
// HTTP/2. Deterministic: a seeded RNG advanced once per decision.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"
#include "tools/emu/counters.hh"

namespace ossuring::emu {

using clock_type = std::chrono::steady_clock;

struct fault_rule {
  fault_kind kind = fault_kind::none;
  double rate = 1.0;       // probability per matching request
  std::string pattern;     // fnmatch(3) glob on the object key; empty matches every request
  uint64_t bytes = 0;      // reset/truncate: body bytes sent first (0: half the body)
  uint64_t stall_ms = 0;   // stall: pause after the headers (0: 60 s)
  int64_t remaining = -1;  // times it may still fire; -1 unlimited
};

struct fault_config {
  uint64_t latency_ms = 0;
  uint64_t jitter_ms = 0;  // uniform extra in [0, jitter]
  uint64_t ttfb_ms = 0;    // after the headers, before the first body byte
  uint64_t connect_delay_ms = 0;
  uint64_t bandwidth = 0;        // bytes/s per connection; 0 unlimited
  uint64_t bandwidth_total = 0;  // bytes/s over all connections; 0 unlimited
  double qps_limit = 0;          // requests/s for the account; 0 unlimited
  std::vector<fault_rule> rules;
  uint64_t seed = 1;
};

// What the driver must do with one response.
struct fault_action {
  fault_kind kind = fault_kind::none;
  uint64_t bytes = 0;  // reset_after_bytes / truncate_body: body bytes to send first;
                       // wrong_content_length: extra bytes announced
  std::chrono::milliseconds stall{0};
};

struct fault_decision {
  std::chrono::milliseconds latency{0};  // before the status line
  std::chrono::milliseconds ttfb{0};     // between the headers and the first body byte
  fault_action action;                   // http_503/http_500/qps_limited: answered by handle()
  uint64_t qos_delay_ms = 0;             // qps_limited: x-oss-qos-delay-time
};

// Classic token bucket: `rate` tokens/s, at most `burst` banked. take() never refuses: it
// returns how long the caller should wait so the long-run rate holds (debt is allowed).
class token_bucket {
 public:
  token_bucket(double rate, double burst);
  std::chrono::nanoseconds take(double n, clock_type::time_point now);
  // True and takes one token when one is available now; else false and the wait in `wait`.
  bool try_take(clock_type::time_point now, std::chrono::nanoseconds& wait);
  double rate() const { return _rate; }

 private:
  void refill(clock_type::time_point now);

  std::mutex _mu;
  double _rate;
  double _burst;
  double _tokens;
  clock_type::time_point _last{};
};

class faults {
 public:
  explicit faults(fault_config cfg = {});

  void configure(fault_config cfg);
  fault_config config() const;

  // One decision per request; `key` is the object key (empty for bucket requests).
  fault_decision decide(std::string_view key, clock_type::time_point now);
  std::chrono::milliseconds connect_delay() const;
  // A fresh per-connection bucket, or nullptr when unlimited.
  std::unique_ptr<token_bucket> make_connection_bucket() const;
  // The bucket shared by all connections, or nullptr when unlimited.
  std::shared_ptr<token_bucket> total_bucket() const;

 private:
  uint64_t next_random();

  mutable std::mutex _mu;
  fault_config _cfg;
  uint64_t _rng_state;
  std::shared_ptr<token_bucket> _qps;
  std::shared_ptr<token_bucket> _total;
};

// KIND[=N][:RATE][#COUNT][@GLOB]; KIND is 503, 500, reset, truncate, bad-length or stall (N is
// bytes for reset/truncate/bad-length, milliseconds for stall). E.g. "reset=4096:0.1@train/*".
result<fault_rule> parse_fault_rule(std::string_view spec);
// One named setting shared by the CLI, the admin query string and admin JSON: latency
// (MS[:JITTER]), jitter, ttfb, connect_delay, bandwidth, bandwidth_total (sizes like 10MiB),
// qps_limit, seed, fault (appends a rule), clear_faults.
status apply_fault_setting(fault_config& cfg, std::string_view name, std::string_view value);
// {"latency_ms":5,"jitter_ms":1,"qps_limit":100,"faults":["503:0.5"],...}: fields present
// replace those of `base`; "faults" replaces the rule list.
result<fault_config> parse_fault_json(std::string_view json, fault_config base);
std::string fault_config_json(const fault_config& cfg);

}  // namespace ossuring::emu
