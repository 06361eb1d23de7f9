// Retry policy of the OSS client, as the official SDKs apply it: which failures are worth another
// attempt, full-jitter exponential backoff, the server's x-oss-qos-delay-time, and the clock offset
// learned from a RequestTimeTooSkewed answer. The loop itself lives in oss_client::execute.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "core/abort.hh"
#include "core/task.hh"
#include "http/message.hh"

namespace ossuring::oss {

struct retry_policy {
  unsigned max_attempts = 3;  // first attempt included; 1 disables retries
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{20000};
  // The longest x-oss-qos-delay-time honoured: a server asking for more is waited this long.
  std::chrono::milliseconds max_qos_delay{10000};
  // Attempts for a throttled call (is_throttling), when more than max_attempts: the mount's
  // first listing rides out throttling with it (docs/configuration.md).
  unsigned throttled_attempts = 0;
  // Total time of one call, attempts and waits included (0 = none): no wait or attempt runs
  // past it, and the last attempt's timeout is cut to what is left.
  std::chrono::milliseconds budget{120000};
};

// The policy of a mount's first listing (index build, lazy probe): throttling retried with
// backoff (at most 5 s apart) for up to 60 s a request, rather than refusing the mount.
retry_policy startup_retry(retry_policy run);

// Throttling answers: 429, SlowDown, Throttling and the *LimitExceeded codes (any status).
bool is_throttling(int http_status, std::string_view oss_code);

// Transport failures (no HTTP answer, or an answer cut short) worth retrying: resets, EOF and
// truncated bodies (EPROTO), timeouts, refused or unreachable connections.
bool is_retryable_errno(int code);

// HTTP answers worth retrying: 5xx, 408, 429 and the throttling codes (any status).
// RequestTimeTooSkewed is handled apart: it needs the clock fixed first.
bool is_retryable_status(int http_status, std::string_view oss_code);

// Full jitter: uniform in [0, min(max_delay, base_delay * 2^(retry-1))], `retry` counting from 1.
// `random` is any uniformly distributed 64-bit value.
std::chrono::nanoseconds backoff_delay(const retry_policy& p, unsigned retry, uint64_t random);

// x-oss-qos-delay-time (milliseconds) of a throttled answer, when present and well formed.
std::optional<std::chrono::milliseconds> qos_delay(const http::header_list& headers);

// Seconds to add to the local clock so it agrees with the server's Date header; nullopt when
// the answer has no parsable Date.
std::optional<int64_t> clock_offset_from(const http::header_list& headers, int64_t local_now);

// Waits `d` (or until `abort` fires: then false). Injectable so tests run without a reactor.
using sleep_fn = std::function<task<bool>(std::chrono::nanoseconds d, abort_source* abort)>;
// Sleeps on the calling thread's reactor (core/io.hh sleep_for).
sleep_fn reactor_sleep();

// A thread-local generator for backoff jitter (not for secrets).
uint64_t jitter_random();

}  // namespace ossuring::oss
