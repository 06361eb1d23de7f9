// ossemu: the local OSS emulator program. Parses options, opens the buckets and serves the S3/OSS
// API, the admin API and optionally a fake ECS metadata service on one io_uring reactor until
// SIGINT/SIGTERM.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/io.hh"
#include "core/memory.hh"
#include "core/net.hh"
#include "core/reactor.hh"
#include "core/signals.hh"
#include "http/server.hh"
#include "http/tls.hh"
#include "tools/emu/ecs.hh"
#include "tools/emu/options.hh"
#include "tools/emu/serve.hh"

using namespace ossuring;
using namespace ossuring::emu;

namespace {

result<unique_fd> listen_on(const std::string& addr) {
  auto hp = split_host_port(addr);
  if (!hp) {
    return std::move(hp).err();
  }
  auto sa = parse_numeric_address(hp->first.empty() ? "0.0.0.0" : hp->first, hp->second);
  if (!sa) {
    return std::move(sa).err();
  }
  return tcp_listen(*sa);
}

// Answers the fake ECS metadata requests (small bodies, no faults).
http::request_handler ecs_handler(ecs_endpoint& ecs) {
  return [&ecs](http::request& req, http::responder& out,
                const http::connection_info&) -> task<void> {
    response r = ecs.handle(req);
    http::header_list headers = r.headers;
    headers.remove("Content-Length");
    if (!(co_await out.send_head(r.status, headers, r.body.size(), req.method == "HEAD")).ok()) {
      co_return;
    }
    if (req.method != "HEAD" && !r.body.empty()) {
      if (!(co_await out.send_body({r.body.data(), r.body.size()})).ok()) {
        co_return;
      }
    }
    (void)co_await out.finish();
  };
}

struct servers {
  std::vector<std::unique_ptr<http::server>> list;
};

// Waits for SIGINT/SIGTERM (blocked and read from a signalfd), then stops every server.
task<void> stop_on_signal(int sfd, servers& s) {
  signalfd_siginfo info{};
  (void)co_await ossuring::read(sfd, &info, sizeof info);
  std::fprintf(stderr, "ossemu: signal %u, stopping\n", info.ssi_signo);
  for (auto& srv : s.list) {
    co_await srv->stop();
  }
}

// `front` and `s` belong to main(): they must outlive the background tasks (the signal watcher
// awaiting stop(), the secondary servers) that reactor::run() waits for after this returns.
task<int> run(const options& opts, const std::string& owner_id, http_frontend& front,
              ecs_endpoint& ecs, servers& s, int sfd) {
  std::shared_ptr<http::tls_context> tls;
  if (!opts.tls_cert.empty()) {
    http::tls_server_config tc;
    tc.cert_file = opts.tls_cert;
    tc.key_file = opts.tls_key;
    tc.alpn = opts.alpn;
    auto ctx = http::tls_context::server(tc);
    if (!ctx) {
      std::fprintf(stderr, "ossemu: TLS: %s\n", ctx.err().describe().c_str());
      co_return 2;
    }
    tls = std::move(*ctx);
  }
  struct listener {
    std::string what;
    std::string addr;
    http::request_handler handler;
    bool frontend;
  };
  std::vector<listener> listeners = {{"oss", opts.listen, front.make_handler(false), true}};
  if (!opts.admin.empty()) {
    listeners.push_back({"admin", opts.admin, front.make_handler(true), false});
  }
  if (!opts.ecs.empty()) {
    listeners.push_back({"ecs", opts.ecs, ecs_handler(ecs), false});
  }
  for (listener& l : listeners) {
    auto fd = listen_on(l.addr);
    if (!fd) {
      std::fprintf(stderr, "ossemu: cannot listen on %s (%s): %s\n", l.addr.c_str(), l.what.c_str(),
                   fd.err().describe().c_str());
      co_return 1;
    }
    std::printf("ossemu: %s listening on %s%s\n", l.what.c_str(),
                local_address(fd->get()).to_string().c_str(), l.frontend && tls ? " (TLS)" : "");
    http::server_options so;
    if (l.frontend) {
      so.tls = tls;
      so.on_connect = front.on_connect();
      so.on_disconnect = front.on_disconnect();
    }
    s.list.push_back(std::make_unique<http::server>(std::move(*fd), so, std::move(l.handler)));
  }
  // One machine-readable line for scripts and tests: where to connect and as whom.
  std::string ready = "ready";
  for (size_t i = 0; i < listeners.size(); ++i) {
    std::string scheme = listeners[i].frontend && tls ? "https://" : "http://";
    ready += " " + std::string(i == 0 ? "endpoint" : listeners[i].what) + "=" + scheme +
             local_address(s.list[i]->listen_fd()).to_string();
  }
  if (!opts.keys.empty()) {
    ready += " access_key_id=" + opts.keys.front().access_key_id;
  }
  if (opts.anonymous) {
    ready += " anonymous=1";
  }
  ready += " owner_id=" + owner_id;
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);
  reactor::local().spawn(stop_on_signal(sfd, s));
  for (size_t i = 1; i < s.list.size(); ++i) {
    reactor::local().spawn(s.list[i]->serve());
  }
  co_await s.list[0]->serve();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Listing pages (~250 KB of XML) would otherwise be mmapped and unmapped, or trimmed off the
  // heap, per response: page faults and zeroing cost more than rendering them.
  tune_malloc(std::getenv("GLIBC_TUNABLES"));
  auto opts = parse_options(argc, argv);
  if (!opts) {
    std::fprintf(stderr, "ossemu: %s\n", opts.err().message.c_str());
    return 2;
  }
  if (opts->help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  auto cfg = make_handler_config(*opts);
  if (!cfg) {
    std::fprintf(stderr, "ossemu: %s\n", cfg.err().message.c_str());
    return 2;
  }
  for (const bucket_option& b : opts->buckets) {
    std::printf("ossemu: bucket %s = %s\n", b.name.c_str(), b.source.c_str());
  }
  int sfd = stop_signal_fd();
  handler h(std::move(*cfg));
  ecs_endpoint ecs(make_ecs_config(*opts));
  http_frontend front(h);
  servers s;
  reactor r;
  int rc = r.run(run(*opts, h.owner_id(), front, ecs, s, sfd));
  ::close(sfd);
  return rc;
}
