// `ossuring stats` for people: units, rates, cache fill, per-API table, errors.
#include "tools/cli/stats_format.hh"

#include <doctest/doctest.h>

#include <string>

using namespace ossuring::cli;

namespace {

// A document as mount_stats::to_json writes it (fields abridged where the report ignores them).
const char* stats_doc =
    R"({"mount":{"bucket":"data","prefix":"train/","mountpoint":"/mnt/d","mode":"index",)"
    R"("open_mode":"noopen","passthrough_granted":false,"uptime_seconds":3725,"restarts":0},)"
    R"("fuse":{"requests":123456,"lookups":1000,"getattrs":20,"readdirs":3,"opens":0,)"
    R"("passthrough_opens":0,"daemon_reads":900,"daemon_read_bytes":15728640,"errors":2,)"
    R"("uring_requests":0,"channels":[{"reactor":0,"cpu":-1,"requests":123456,"uring_requests":0}]},)"
    R"("fs":{"list_requests":12,"meta_requests":0,"get_requests":100,"shared_fetch_waits":0,)"
    R"("blob_hits":900,"negative_hits":0,"index_nodes":5000,"index_generations":1,)"
    R"("index_refreshes":0,"prefetch_gets":0,"prefetch_queued":0,"buffer_bytes":1048576,)"
    R"("interrupted":0,"uploads":0,"upload_bytes":0,"upload_failures":0,"blobs_seeded":0},)"
    R"("cache":{"backend":"memory","limit":805306368,"bytes":201326592,"blobs":100,)"
    R"("pinned":0,"evictions":3,"uncached":0,"reserved":0,"memory_limit":1073741824},)"
    R"("oss":{"ListObjectsV2":{"requests":12,"retries":0,"errors":0,"bytes_received":40960,)"
    R"("bytes_sent":0,"latency_ms":{"p50":2.5,"p99":8.25,"max":9.0}},)"
    R"("HeadObject":{"requests":0,"retries":0,"errors":0,"bytes_received":0,"bytes_sent":0,)"
    R"("latency_ms":{"count":0,"sum":0,"p50":0,"p90":0,"p99":0,"max":0}},)"
    R"("GetObject":{"requests":100,"retries":1,"errors":1,"bytes_received":209715200,)"
    R"("bytes_sent":0,"latency_ms":{"p50":12.0,"p99":1500.0,"max":2000.0}}}})";

}  // namespace

TEST_CASE("sizes are shown in binary units, counts with separators") {
  CHECK(human_bytes(0) == "0 B");
  CHECK(human_bytes(1023) == "1023 B");
  CHECK(human_bytes(1536) == "1.50 KiB");
  CHECK(human_bytes(15728640) == "15.0 MiB");
  CHECK(human_bytes(805306368) == "768 MiB");
  CHECK(human_bytes(3ull << 40) == "3.00 TiB");
  CHECK(human_count(0) == "0");
  CHECK(human_count(999) == "999");
  CHECK(human_count(1234567) == "1,234,567");
  CHECK(percent(1, 3) == "33.3%");
  CHECK(percent(1, 0) == "-");
  CHECK(human_duration(3725) == "1 h 2 min");
  CHECK(human_duration(42) == "42 s");
}

TEST_CASE("the report names a limit other than the budget that stopped the cache") {
  std::string doc = stats_doc;
  const std::string backend = R"("backend":"memory",)";
  const size_t at = doc.find(backend);
  REQUIRE(at != std::string::npos);
  doc.insert(at + backend.size(), R"("limited_by":"max_blobs",)");
  std::string error;
  const std::string r = format_stats(doc, &error);
  CAPTURE(r);
  REQUIRE(error.empty());
  CHECK(r.find("growth stopped by max_blobs, not the budget") != std::string::npos);
}

TEST_CASE("the report shows hit rate, cache fill against its budget, APIs and errors") {
  std::string error;
  const std::string r = format_stats(stats_doc, &error);
  CAPTURE(r);
  REQUIRE(error.empty());
  CHECK(r.find("oss://data/train/ on /mnt/d") != std::string::npos);
  CHECK(r.find("index mode, open mode noopen, up 1 h 2 min") != std::string::npos);
  CHECK(r.find("123,456 requests") != std::string::npos);
  CHECK(r.find("192 MiB of 768 MiB (25.0%, memory)") != std::string::npos);
  CHECK(r.find("hit rate 90.0% (900 hits, 100 GETs)") != std::string::npos);
  CHECK(r.find("3 evictions") != std::string::npos);
  CHECK(r.find("growth stopped") == std::string::npos);  // only the budget limits this cache
  CHECK(r.find("5,000 entries") != std::string::npos);
  // One row per API, with its latency percentiles in readable units.
  CHECK(r.find("ListObjectsV2") != std::string::npos);
  CHECK(r.find("HeadObject") == std::string::npos);  // never used: no row
  const size_t get = r.find("GetObject");
  REQUIRE(get != std::string::npos);
  const std::string row = r.substr(get, r.find('\n', get) - get);
  CHECK(row.find("200 MiB") != std::string::npos);
  CHECK(row.find("12.0 ms") != std::string::npos);
  CHECK(row.find("1.50 s") != std::string::npos);
  CHECK(row.find("2.00 s") != std::string::npos);
  CHECK(r.find("2 FUSE requests answered an error, 1 failed OSS requests") != std::string::npos);
  // Nothing unscaled: the raw byte counts do not appear.
  CHECK(r.find("209715200") == std::string::npos);
  CHECK(r.find("805306368") == std::string::npos);
}

TEST_CASE("a document that is not the daemon's stats is refused with a reason") {
  std::string error;
  CHECK(format_stats("not json", &error).empty());
  CHECK(error.find("malformed") != std::string::npos);
  error.clear();
  CHECK(format_stats("{\"x\":1}", &error).empty());
  CHECK_FALSE(error.empty());
}
