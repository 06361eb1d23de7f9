// The Prometheus endpoint of a mount (--metrics-port): GET /metrics on 127.0.0.1 answers the
// process's metrics registry in the text exposition format, plus whatever `extra` adds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.hh"
#include "core/task.hh"
#include "http/server.hh"

namespace ossuring::cli {

class metrics_endpoint {
 public:
  // Listens on 127.0.0.1:port (0 picks a free port). `extra` appends mount-level lines.
  static result<std::unique_ptr<metrics_endpoint>> listen(uint16_t port,
                                                          std::function<std::string()> extra);
  uint16_t port() const { return _port; }
  task<void> serve() { return _server->serve(); }
  task<void> stop() { return _server->stop(); }

 private:
  std::unique_ptr<http::server> _server;
  uint16_t _port = 0;
};

// One Prometheus counter line: `name value`, with HELP/TYPE lines.
std::string prometheus_counter(const std::string& name, const std::string& help, uint64_t value);
// The same for a gauge (a level: bytes held, blobs cached).
std::string prometheus_gauge(const std::string& name, const std::string& help, uint64_t value);

// What the blob cache holds and has done, for the endpoint.
struct cache_figures {
  uint64_t bytes = 0;  // blobs plus GETs in flight
  uint64_t limit = 0;  // the budget
  uint64_t blobs = 0;
  uint64_t pinned = 0;  // blobs open files hold
  uint64_t hits = 0;    // reads served from a cached blob
  uint64_t misses = 0;  // whole-object GETs
  uint64_t evictions = 0;
  uint64_t readahead_bytes = 0;  // large-file read-ahead windows held
};
// ossuring_cache_bytes, _limit_bytes, _blobs, _pinned_blobs (gauges), ossuring_cache_hits_total,
// _misses_total, _evictions_total (counters), ossuring_readahead_bytes (gauge).
std::string prometheus_cache_metrics(const cache_figures& c);

}  // namespace ossuring::cli
