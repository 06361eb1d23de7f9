// The Prometheus endpoint answers /metrics with the registry, observed metrics included.
#include <doctest/doctest.h>

#include "core/metrics.hh"
#include "http/client.hh"
#include "tools/cli/metrics_endpoint.hh"

using namespace ossuring;

TEST_CASE("GET /metrics returns the registry's counters and observed metrics; other paths 404") {
  reactor r;
  metrics().get_counter("ossuring_test_things_total", {}, "things counted by the test").add(7);
  uint64_t requests = 42;
  metric_handle observed = metrics().observe_counter("ossuring_test_requests_total", {}, "requests",
                                                     [&requests] { return requests; });
  auto ep = cli::metrics_endpoint::listen(0);
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
  CHECK(
      body.find("# TYPE ossuring_test_requests_total counter\nossuring_test_requests_total 42\n") !=
      std::string::npos);
}
