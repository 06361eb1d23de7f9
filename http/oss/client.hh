// oss_client: the real object_client. Builds OSS requests (virtual-hosted or path style), signs
// them (V4 or V1) with credentials from a provider, sends them through an http::client with
// retries and a shared rate limit, checks every answer (status, lengths, ranges, CRC-64) and
// turns failures into errors carrying errno, key, HTTP status, OSS code and request id.
// One file per operation implements the methods (list_objects.cc, get_object.cc, ...).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hh"
#include "http/client.hh"
#include "http/oss/credentials.hh"
#include "http/oss/object_client.hh"
#include "http/oss/rate_limiter.hh"
#include "http/oss/retry.hh"
#include "http/oss/uri.hh"

namespace ossuring::oss {

// The APIs the client calls, for metrics and messages.
enum class api_id : uint8_t {
  list_objects_v2,
  list_objects,
  head_object,
  get_object_meta,
  get_object,
  put_object,
  delete_object,
  copy_object,
  initiate_multipart,
  upload_part,
  upload_part_copy,
  complete_multipart,
  abort_multipart,
  count_,
};
inline constexpr size_t api_count = static_cast<size_t>(api_id::count_);
// The OSS name of the API ("GetObject").
std::string_view api_name(api_id a);

struct client_config {
  std::string bucket;
  // Where requests go: the Host header is `bucket.host` (virtual-hosted) or `host` (path style),
  // with the port when it is not the scheme's default.
  http::endpoint endpoint;
  bool path_style = false;
  // 4: V4, which needs the bare region id ("cn-hangzhou"); without a region, or with 1, V1.
  int sign_version = 4;
  std::string region;
  retry_policy retry;
  // Shared by every client of the process (all reactors); null = no limit.
  std::shared_ptr<rate_limiter> limiter;
  // Waits between attempts and for the limiter; default reactor_sleep().
  sleep_fn sleep;
  // Wall clock in seconds for signatures; default ::time(). Tests pin it.
  std::function<int64_t()> wall_clock;
  // Backoff jitter source; default jitter_random().
  std::function<uint64_t()> random;
  // Whole-exchange timeout per attempt; 0 = the http client's first-byte timeout only.
  std::chrono::milliseconds request_timeout{0};
};

// Per-API counters since start (process-wide: every oss_client adds to the same metrics).
struct api_stats {
  std::string_view api;
  uint64_t requests = 0;  // attempts sent, retries included
  uint64_t retries = 0;
  uint64_t errors = 0;  // calls that finally failed
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  histogram_snapshot latency;  // nanoseconds per attempt
};

class oss_client final : public object_client {
 public:
  oss_client(http::client& http, std::shared_ptr<credentials_provider> creds, client_config cfg);

  task<result<list_page>> list_objects_v2(const list_request& req,
                                          abort_source* abort = nullptr) override;
  // ListObjects (V1): `continuation_token` (or else `start_after`) is sent as the marker, and
  // the page's next_continuation_token is the marker of the next page.
  task<result<list_page>> list_objects_v1(const list_request& req, abort_source* abort = nullptr);
  task<result<object_info>> head_object(std::string_view key,
                                        abort_source* abort = nullptr) override;
  task<result<object_info>> get_object_meta(std::string_view key,
                                            abort_source* abort = nullptr) override;
  task<result<get_result>> get_object(const get_request& req, std::span<std::byte> dest,
                                      abort_source* abort = nullptr) override;
  task<result<put_result>> put_object(std::string_view key, std::span<const std::byte> data,
                                      abort_source* abort = nullptr) override;
  task<result<put_result>> put_object_if(std::string_view key, std::span<const std::byte> data,
                                         const put_condition& cond,
                                         abort_source* abort = nullptr) override;
  task<status> delete_object(std::string_view key, abort_source* abort = nullptr) override;
  task<result<put_result>> copy_object(std::string_view src_key, std::string_view dst_key,
                                       abort_source* abort = nullptr) override;
  task<result<std::string>> initiate_multipart(std::string_view key,
                                               abort_source* abort = nullptr) override;
  task<result<part_etag>> upload_part(std::string_view key, std::string_view upload_id,
                                      unsigned part_number, std::span<const std::byte> data,
                                      abort_source* abort = nullptr) override;
  task<result<part_etag>> upload_part_copy(std::string_view key, std::string_view upload_id,
                                           unsigned part_number, std::string_view src_key,
                                           std::string_view src_etag, uint64_t first, uint64_t last,
                                           abort_source* abort = nullptr) override;
  task<result<put_result>> complete_multipart(std::string_view key, std::string_view upload_id,
                                              const std::vector<part_etag>& parts,
                                              abort_source* abort = nullptr) override;
  task<status> abort_multipart(std::string_view key, std::string_view upload_id,
                               abort_source* abort = nullptr) override;

  const client_config& config() const { return _cfg; }
  // Replaces the retry policy for the calls that start from now on (the mount's first listing
  // rides out throttling longer than the calls after it).
  void set_retry(const retry_policy& p) {
    _cfg.retry = p;
    _cfg.retry.max_attempts = std::max(p.max_attempts, 1u);
  }
  // Seconds added to the wall clock when signing (learned from RequestTimeTooSkewed).
  int64_t clock_offset() const { return _clock_offset.load(std::memory_order_relaxed); }
  // Per-API statistics (process-wide): the ossuring_oss_* metrics of the registry, which
  // renders them (core/metrics.hh).
  std::vector<api_stats> stats() const;

  // ---- internals shared by the operation files ------------------------------------------

  // What one failed attempt means for the retry loop.
  struct failure {
    error err;
    bool retryable = false;
  };

  // One logical call (possibly several attempts).
  struct call {
    api_id api = api_id::get_object;
    std::string_view method;
    std::string_view key;          // decoded; empty for bucket-level requests
    std::string_view message_key;  // named in messages instead of `key` (listings: the prefix)
    query_params query;            // decoded, in wire order
    http::header_list headers;
    std::string body;                    // small request bodies (XML)
    std::span<const std::byte> payload;  // large request bodies, sent from the caller's memory
    bool idempotent = true;
    bool in_order = false;  // http::request::in_order (listing pages)
    // A non-2xx status handed to `validate` as an answer rather than an error (0: none).
    int also_ok_status = 0;
    // Body bytes the attempt's sink took (the sink adds to it; reset before each attempt).
    uint64_t received = 0;
    // Before each attempt: reset per-attempt state, install ex.response_body.
    std::function<void(http::exchange&)> prepare;
    // For a response whose body went to the sink: the bytes received (error XML on failures).
    std::function<std::string()> sink_text;
    // Checks a 2xx answer; an error fails the attempt (retried when marked retryable).
    std::function<std::optional<failure>(const http::response&)> validate;
  };

  // Runs `c` with signing, rate limiting and retries; returns the successful (2xx) response.
  task<result<http::response>> execute(call& c, abort_source* abort);

  // "GetObject oss://bucket/key" for messages.
  std::string describe_call(api_id api, std::string_view key) const;
  std::string describe_call(const call& c) const;
  // An error for a failed check of an answer (EIO unless told), with the key and request id.
  error make_check_error(api_id api, std::string_view key, const http::response& r,
                         std::string what, int code = EIO) const;
  // The ETag in a copy's answer (CopyObject, UploadPartCopy), read by `parse`; a copy can fail
  // after its 200 status line, and the body is then an <Error> turned into this error.
  result<std::string> copy_answer_etag(api_id api, std::string_view key, std::string_view src_key,
                                       const http::response& r,
                                       result<std::string> (*parse)(std::string_view)) const;
  // Fills the object attributes a HEAD/GET answer carries.
  static void parse_object_headers(const http::header_list& h, object_info& out);
  // Sends a HEAD-style call (HeadObject, GetObjectMeta) and reads the object's attributes.
  task<result<object_info>> head_attributes(call c, std::string_view key, abort_source* abort);

 private:
  struct api_metrics {
    counter* requests = nullptr;
    counter* retries = nullptr;
    counter* errors = nullptr;
    counter* bytes_received = nullptr;
    counter* bytes_sent = nullptr;
    histogram* latency = nullptr;
  };

  http::request build_request(const call& c) const;
  failure error_from_response(const call& c, const http::response& r, std::string body);
  int64_t wall_now() const;

  http::client& _http;
  std::shared_ptr<credentials_provider> _creds;
  client_config _cfg;
  std::string _authority;
  std::atomic<int64_t> _clock_offset{0};
  std::array<api_metrics, api_count> _metrics;
};

}  // namespace ossuring::oss
