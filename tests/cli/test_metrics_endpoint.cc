// The Prometheus endpoint answers /metrics with the registry and the mount's extra lines.
#include <doctest/doctest.h>

#include "core/metrics.hh"
#include "http/client.hh"
#include "tools/cli/metrics_endpoint.hh"

using namespace ossuring;

TEST_CASE("GET /metrics returns registry counters and extra lines; other paths are 404") {
  reactor r;
  metrics().get_counter("ossuring_test_things_total", {}, "things counted by the test").add(7);
  auto ep = cli::metrics_endpoint::listen(0, [] {
    return cli::prometheus_counter("ossuring_fuse_requests_total", "FUSE requests", 42);
  });
  REQUIRE(ep.ok());
  std::string body;
  int status = 0;
  int missing = 0;
  r.run([&]() -> task<void> {
    r.spawn((*ep)->serve());
    auto client = http::make_client({"127.0.0.1", (*ep)->port(), false}, {});
    http::exchange ex;
    ex.req.method = "GET";
    ex.req.target = "/metrics";
    auto resp = co_await client->send(ex);
    REQUIRE(resp.ok());
    status = resp->status;
    body = resp->body;
    http::exchange ex2;
    ex2.req.method = "GET";
    ex2.req.target = "/nope";
    auto resp2 = co_await client->send(ex2);
    REQUIRE(resp2.ok());
    missing = resp2->status;
    co_await client->close();
    co_await (*ep)->stop();
  }());
  CHECK(status == 200);
  CHECK(missing == 404);
  CHECK(body.find("ossuring_test_things_total 7") != std::string::npos);
  CHECK(body.find("ossuring_fuse_requests_total 42") != std::string::npos);
}

TEST_CASE("the cache's bytes, budget, blobs, hits, misses and evictions are Prometheus metrics") {
  cli::cache_figures c;
  c.bytes = 3 << 20;
  c.limit = 768 << 20;
  c.blobs = 7;
  c.pinned = 1;
  c.hits = 40;
  c.misses = 7;
  c.evictions = 2;
  c.readahead_bytes = 4096;
  const std::string text = cli::prometheus_cache_metrics(c);
  CHECK(text.find("# TYPE ossuring_cache_bytes gauge\nossuring_cache_bytes 3145728\n") !=
        std::string::npos);
  CHECK(text.find("ossuring_cache_limit_bytes 805306368\n") != std::string::npos);
  CHECK(text.find("ossuring_cache_blobs 7\n") != std::string::npos);
  CHECK(text.find("ossuring_cache_pinned_blobs 1\n") != std::string::npos);
  CHECK(text.find("# TYPE ossuring_cache_hits_total counter\nossuring_cache_hits_total 40\n") !=
        std::string::npos);
  CHECK(text.find("ossuring_cache_misses_total 7\n") != std::string::npos);
  CHECK(text.find("ossuring_cache_evictions_total 2\n") != std::string::npos);
  CHECK(text.find("ossuring_readahead_bytes 4096\n") != std::string::npos);
}
