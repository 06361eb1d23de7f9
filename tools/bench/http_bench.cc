// http_bench: GETs of one URL with http::client at several concurrency levels; prints requests/s,
// MB/s and p50/p99 latency per level (a benchmark, not a test: see docs/benchmarks.md).
//   http_bench [--http=auto|1.1|2] [--ca-file=PEM] [--insecure] [--concurrency=1,16,128]
//              [--seconds=5] [--h1-connections=N] [--h2-connections=N] URL
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/gate.hh"
#include "core/memory.hh"
#include "core/reactor.hh"
#include "http/client.hh"

using namespace ossuring;
using namespace ossuring::http;
using bench_clock = std::chrono::steady_clock;

namespace {

struct level_result {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t bytes = 0;
  std::vector<double> latencies_ms;
  std::string first_error;
};

task<void> worker(client& c, std::string target, bench_clock::time_point until, level_result& out) {
  while (bench_clock::now() < until) {
    exchange ex;
    ex.req.method = "GET";
    ex.req.target = target;
    uint64_t got = 0;
    ex.response_body = [&got](std::span<const char> d) -> status {
      got += d.size();
      return {};
    };
    auto start = bench_clock::now();
    result<response> r = co_await c.send(ex);
    auto ms = std::chrono::duration<double, std::milli>(bench_clock::now() - start).count();
    if (!r.ok() || r->status != 200) {
      ++out.errors;
      if (out.first_error.empty()) {
        out.first_error = r.ok() ? "status " + std::to_string(r->status) : r.err().message;
      }
      continue;
    }
    ++out.requests;
    out.bytes += got;
    out.latencies_ms.push_back(ms);
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc(std::getenv("GLIBC_TUNABLES"));  // as the daemon runs (core/memory.hh)
  client_options opts;
  std::vector<unsigned> levels = {1, 16, 128};
  double seconds = 5;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.starts_with("--http=")) {
      opts.http = a.substr(7);
    } else if (a.starts_with("--ca-file=")) {
      opts.ca_file = a.substr(10);
    } else if (a == "--insecure") {
      opts.verify_peer = false;
    } else if (a.starts_with("--seconds=")) {
      seconds = std::stod(a.substr(10));
    } else if (a.starts_with("--h1-connections=")) {
      opts.max_h1_connections = static_cast<unsigned>(std::stoul(a.substr(17)));
    } else if (a.starts_with("--h2-connections=")) {
      opts.h2_connections = static_cast<unsigned>(std::stoul(a.substr(17)));
    } else if (a.starts_with("--concurrency=")) {
      levels.clear();
      std::string list = a.substr(14);
      for (size_t pos = 0; pos < list.size();) {
        size_t comma = list.find(',', pos);
        levels.push_back(static_cast<unsigned>(std::stoul(list.substr(pos, comma - pos))));
        pos = comma == std::string::npos ? list.size() : comma + 1;
      }
    } else if (!a.starts_with("--") && url.empty()) {
      url = a;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (url.empty() || slash == std::string::npos) {
    std::fprintf(stderr, "usage: http_bench [options] http(s)://host:port/path\n");
    return 2;
  }
  result<endpoint> ep = parse_endpoint(url.substr(0, slash));
  if (!ep.ok()) {
    std::fprintf(stderr, "%s\n", ep.err().message.c_str());
    return 2;
  }
  std::string target = url.substr(slash);
  int rc = 0;
  reactor r;
  r.run([&]() -> task<void> {
    for (unsigned level : levels) {
      std::unique_ptr<client> c = make_client(*ep, opts);
      level_result res;
      // Warm-up: open the connections outside the measured window.
      {
        level_result warm;
        gate g;
        for (unsigned i = 0; i < level; ++i) {
          g.spawn(worker(*c, target, bench_clock::now(), warm));
        }
        co_await g.close();
        exchange ex;
        ex.req.method = "GET";
        ex.req.target = target;
        ex.response_body = [](std::span<const char>) -> status { return {}; };
        (void)co_await c->send(ex);
      }
      auto start = bench_clock::now();
      auto until = start + std::chrono::duration_cast<bench_clock::duration>(
                               std::chrono::duration<double>(seconds));
      gate g;
      for (unsigned i = 0; i < level; ++i) {
        g.spawn(worker(*c, target, until, res));
      }
      co_await g.close();
      double elapsed = std::chrono::duration<double>(bench_clock::now() - start).count();
      std::printf(
          "protocol=%s concurrency=%u requests=%llu errors=%llu req_per_s=%.0f MB_per_s=%.1f "
          "p50_ms=%.3f p99_ms=%.3f connections=%llu\n",
          c->negotiated_protocol().c_str(), level, static_cast<unsigned long long>(res.requests),
          static_cast<unsigned long long>(res.errors), static_cast<double>(res.requests) / elapsed,
          static_cast<double>(res.bytes) / elapsed / 1e6, percentile(res.latencies_ms, 0.5),
          percentile(res.latencies_ms, 0.99),
          static_cast<unsigned long long>(c->stats().connections_opened));
      if (!res.first_error.empty()) {
        std::fprintf(stderr, "first error: %s\n", res.first_error.c_str());
        rc = 1;
      }
      std::fflush(stdout);
      co_await c->close();
    }
  }());
  return rc;
}
