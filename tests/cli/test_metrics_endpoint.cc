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
