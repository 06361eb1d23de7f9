// The Prometheus endpoint of a mount.
#include "tools/cli/metrics_endpoint.hh"

#include "core/metrics.hh"
#include "core/net.hh"

namespace ossuring::cli {

std::string prometheus_counter(const std::string& name, const std::string& help, uint64_t value) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
         std::to_string(value) + "\n";
}

std::string prometheus_gauge(const std::string& name, const std::string& help, uint64_t value) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " +
         std::to_string(value) + "\n";
}

std::string prometheus_cache_metrics(const cache_figures& c) {
  return prometheus_gauge("ossuring_cache_bytes", "bytes of cached blobs and GETs in flight",
                          c.bytes) +
         prometheus_gauge("ossuring_cache_limit_bytes", "the blob cache's budget", c.limit) +
         prometheus_gauge("ossuring_cache_blobs", "objects cached whole", c.blobs) +
         prometheus_gauge("ossuring_cache_pinned_blobs", "cached blobs held by open files",
                          c.pinned) +
         prometheus_counter("ossuring_cache_hits_total", "reads served from a cached blob",
                            c.hits) +
         prometheus_counter("ossuring_cache_misses_total", "whole-object GETs into the cache",
                            c.misses) +
         prometheus_counter("ossuring_cache_evictions_total", "blobs evicted to stay in budget",
                            c.evictions) +
         prometheus_gauge("ossuring_readahead_bytes", "bytes of large-file read-ahead held",
                          c.readahead_bytes);
}

result<std::unique_ptr<metrics_endpoint>> metrics_endpoint::listen(
    uint16_t port, std::function<std::string()> extra) {
  result<socket_address> addr = parse_numeric_address("127.0.0.1", port);
  if (!addr.ok()) {
    return std::move(addr).err();
  }
  result<unique_fd> fd = tcp_listen(*addr, 64);
  if (!fd.ok()) {
    return make_error(fd.err().code, "metrics endpoint: " + fd.err().message);
  }
  auto ep = std::make_unique<metrics_endpoint>();
  ep->_port = local_address(fd->get()).port();
  http::server_options opts;
  ep->_server = std::make_unique<http::server>(
      std::move(*fd), opts,
      [extra = std::move(extra)](http::request& req, http::responder& out,
                                 const http::connection_info&) -> task<void> {
        http::header_list h;
        std::string body;
        int code = 200;
        if (req.method != "GET" && req.method != "HEAD") {
          code = 405;
          body = "only GET\n";
        } else if (req.target != "/metrics" && req.target.rfind("/metrics?", 0) != 0) {
          code = 404;
          body = "try /metrics\n";
        } else {
          body = metrics().render_prometheus();
          if (extra) {
            body += extra();
          }
          h.add("Content-Type", "text/plain; version=0.0.4");
        }
        if (!(co_await out.send_head(code, h, body.size(), req.method == "HEAD")).ok()) {
          co_return;
        }
        (void)co_await out.send_body(std::span<const char>(body.data(), body.size()));
        (void)co_await out.finish();
      });
  return ep;
}

}  // namespace ossuring::cli
