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

}  // namespace ossuring::cli
