// Metrics: per-thread shards summed on read, bucket arithmetic, percentiles, renderings.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hh"
#include "core/reactor_pool.hh"

using namespace ossuring;

TEST_SUITE("metrics") {
  TEST_CASE("counter updates from many threads are all summed on read") {
    counter& c = metrics().get_counter("test_threads_total", {{"case", "threads"}});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&c] {
        for (int i = 0; i < 10'000; ++i) {
          c.add();
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    c.add(5);
    CHECK(c.value() == 40'005);
  }

  TEST_CASE("gauge goes up and down") {
    gauge& g = metrics().get_gauge("test_open_handles");
    g.add(10);
    g.sub(3);
    std::thread([&g] { g.sub(2); }).join();
    CHECK(g.value() == 5);
  }

  TEST_CASE("the same name and labels give the same metric; other labels another") {
    counter& a = metrics().get_counter("test_requests_total", {{"api", "GetObject"}});
    counter& b = metrics().get_counter("test_requests_total", {{"api", "GetObject"}});
    counter& c = metrics().get_counter("test_requests_total", {{"api", "PutObject"}});
    CHECK(&a == &b);
    CHECK(&a != &c);
    CHECK_THROWS_AS(metrics().get_gauge("test_requests_total"), std::logic_error);
  }

  TEST_CASE("every value falls inside its bucket and buckets tile the range") {
    const uint64_t samples[] = {
        0, 1, 7, 8, 9, 15, 16, 17, 1000, 123456789, (uint64_t{1} << 40) + 12345, UINT64_MAX};
    for (uint64_t v : samples) {
      size_t b = histogram::bucket_of(v);
      REQUIRE(b < histogram::bucket_count);
      CHECK(histogram::bucket_lower(b) <= v);
      CHECK(v <= histogram::bucket_upper(b));
    }
    for (size_t i = 0; i + 1 < histogram::bucket_count; ++i) {
      REQUIRE(histogram::bucket_upper(i) + 1 == histogram::bucket_lower(i + 1));
    }
  }

  TEST_CASE("percentiles are estimated within the bucket resolution and max is exact") {
    histogram& h = metrics().get_histogram("test_latency_seconds", {{"api", "Uniform"}});
    for (uint64_t v = 1; v <= 100'000; ++v) {
      h.record(v * 1000);  // 1 us .. 100 ms in nanoseconds
    }
    histogram_snapshot s = h.snapshot();
    CHECK(s.count == 100'000);
    CHECK(s.max == 100'000'000);
    auto near = [](uint64_t got, double want) {
      return std::fabs(static_cast<double>(got) - want) <= want * 0.125;
    };
    CHECK(near(s.percentile(0.5), 50e6));
    CHECK(near(s.percentile(0.9), 90e6));
    CHECK(near(s.percentile(0.99), 99e6));
    CHECK(s.percentile(1.0) == 100'000'000);
    CHECK(histogram_snapshot{}.percentile(0.5) == 0);
  }

  TEST_CASE("histogram shards from several threads merge") {
    histogram& h = metrics().get_histogram("test_merge_seconds");
    std::thread([&h] { h.record(10); }).join();
    std::thread([&h] { h.record(30); }).join();
    h.record(20);
    histogram_snapshot s = h.snapshot();
    CHECK(s.count == 3);
    CHECK(s.sum == 60);
    CHECK(s.max == 30);
  }

  TEST_CASE("prometheus rendering has one TYPE line per name and escaped labels") {
    metrics().get_counter("test_render_total", {{"api", "Get\"Object"}}, "Render test.").add(3);
    metrics().get_counter("test_render_total", {{"api", "Put"}}).add(4);
    metrics().get_histogram("test_render_seconds", {{"api", "Get"}}).record(2'000'000'000);
    std::string text = metrics().render_prometheus();
    CHECK(text.find("# HELP test_render_total Render test.\n") != std::string::npos);
    CHECK(text.find("# TYPE test_render_total counter\n") != std::string::npos);
    CHECK(text.find("test_render_total{api=\"Get\\\"Object\"} 3\n") != std::string::npos);
    CHECK(text.find("test_render_total{api=\"Put\"} 4\n") != std::string::npos);
    CHECK(text.find("# TYPE test_render_seconds summary\n") != std::string::npos);
    CHECK(text.find("test_render_seconds{api=\"Get\",quantile=\"1\"} 2\n") != std::string::npos);
    CHECK(text.find("test_render_seconds_count{api=\"Get\"} 1\n") != std::string::npos);
    size_t first = text.find("# TYPE test_render_total");
    CHECK(text.find("# TYPE test_render_total", first + 1) == std::string::npos);
  }

  TEST_CASE("json rendering places the metrics its layout names, labels as keys") {
    metrics().get_counter("test_json_total", {{"api", "Get"}}).add(9);
    metrics().get_counter("test_json_total", {{"api", "Put"}}).add(2);
    metrics().get_counter("test_json_unplaced_total").add(1);
    metrics().get_histogram("test_json_seconds", {{"api", "Get"}}).record(1'500'000'000);
    const json_field layout[] = {{"test_json_total", "calls.{api}.count"},
                                 {"test_json_seconds", "calls.{api}.latency_ms", 1e-6}};
    const json_member extra[] = {{"about.name", "\"x\\\"y\""}, {"calls.note", "true"}};
    const std::string json = metrics().render_json(layout, extra);
    CAPTURE(json);
    CHECK(json.starts_with("{\"about\":{\"name\":\"x\\\"y\"},\"calls\":{\"note\":true,"));
    CHECK(json.find("\"Get\":{\"count\":9,\"latency_ms\":{\"count\":1,\"sum\":1500,") !=
          std::string::npos);
    CHECK(json.find("\"max\":1500}") != std::string::npos);
    CHECK(json.find("\"Put\":{\"count\":2}") != std::string::npos);
    CHECK(json.find("unplaced") == std::string::npos);
    CHECK(json.back() == '}');
  }

  TEST_CASE("an observed metric is read when rendered and gone with its handle") {
    uint64_t seen = 5;
    int64_t level = -3;
    {
      metric_handle c =
          metrics().observe_counter("test_observed_total", {}, "Observed.", [&] { return seen; });
      metric_handle g =
          metrics().observe_gauge("test_observed_level", {}, "Level.", [&] { return level; });
      seen = 7;
      std::string text = metrics().render_prometheus();
      CHECK(text.find("# TYPE test_observed_total counter\ntest_observed_total 7\n") !=
            std::string::npos);
      CHECK(text.find("# TYPE test_observed_level gauge\ntest_observed_level -3\n") !=
            std::string::npos);
      const json_field layout[] = {{"test_observed_total", "seen"}};
      CHECK(metrics().render_json(layout) == "{\"seen\":7}");
      // One owner per name and labels; a counted metric cannot be observed too.
      CHECK_THROWS_AS((void)metrics().observe_counter("test_observed_total", {}, "",
                                                      [] { return uint64_t{0}; }),
                      std::logic_error);
      CHECK_THROWS_AS(metrics().get_counter("test_observed_total"), std::logic_error);
      metric_handle moved = std::move(c);
      CHECK(metrics().render_prometheus().find("test_observed_total 7") != std::string::npos);
    }
    const std::string after = metrics().render_prometheus();
    CHECK(after.find("test_observed_total") == std::string::npos);
    CHECK(after.find("test_observed_level") == std::string::npos);
    // The name is free again.
    metric_handle again =
        metrics().observe_counter("test_observed_total", {}, "", [] { return uint64_t{1}; });
    CHECK(metrics().render_prometheus().find("test_observed_total 1\n") != std::string::npos);
  }
}

TEST_SUITE("cpu list") {
  TEST_CASE("ranges and single CPUs are expanded in order") {
    auto r = parse_cpu_list("0-3,6");
    REQUIRE(r.ok());
    CHECK(*r == std::vector<int>{0, 1, 2, 3, 6});
    auto one = parse_cpu_list("5");
    REQUIRE(one.ok());
    CHECK(*one == std::vector<int>{5});
    auto spaced = parse_cpu_list(" 2 , 0-1 ");
    REQUIRE(spaced.ok());
    CHECK(*spaced == std::vector<int>{2, 0, 1});
  }

  TEST_CASE("malformed CPU lists are refused with EINVAL") {
    for (const char* bad : {"", "3-1", "a", "1,1", "1-", ",", "0-2,2", "-1"}) {
      auto r = parse_cpu_list(bad);
      CHECK_MESSAGE(!r.ok(), bad);
      if (!r.ok()) {
        CHECK(r.err().code == EINVAL);
      }
    }
  }
}
