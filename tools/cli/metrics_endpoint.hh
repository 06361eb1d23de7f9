// The Prometheus endpoint of a mount (--metrics-port): GET /metrics on 127.0.0.1 answers the
// process's metrics registry (core/metrics.hh) in the text exposition format. The mount's own
// counters are in the registry while its mount_stats lives (tools/cli/mount_stats.hh).
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
  // Listens on 127.0.0.1:port (0 picks a free port).
  static result<std::unique_ptr<metrics_endpoint>> listen(uint16_t port);
  uint16_t port() const { return _port; }
  task<void> serve() { return _server->serve(); }
  task<void> stop() { return _server->stop(); }

  // Transitional, until tools/cli/cmd_mount.cc calls listen(port): `extra` is not rendered
  // (what it rendered is registered by mount_stats), and the three below render nothing.
  static result<std::unique_ptr<metrics_endpoint>> listen(uint16_t port,
                                                          const std::function<std::string()>&) {
    return listen(port);
  }

 private:
  std::unique_ptr<http::server> _server;
  uint16_t _port = 0;
};

// Transitional (see above): cmd_mount.cc's `extra` lambda still names these.
struct cache_figures {
  uint64_t bytes = 0, limit = 0, blobs = 0, pinned = 0, hits = 0, misses = 0, evictions = 0,
           readahead_bytes = 0;
};
inline std::string prometheus_counter(const std::string&, const std::string&, uint64_t) {
  return {};
}
inline std::string prometheus_cache_metrics(const cache_figures&) {
  return {};
}

}  // namespace ossuring::cli
