// The Prometheus endpoint of a mount.
#include "tools/cli/metrics_endpoint.hh"

#include "core/metrics.hh"
#include "core/net.hh"

namespace ossuring::cli {

result<std::unique_ptr<metrics_endpoint>> metrics_endpoint::listen(uint16_t port) {
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
      [](http::request& req, http::responder& out, const http::connection_info&) -> task<void> {
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
