// oss_client core: addressing, signing, the retry loop, error answers and per-API metrics.
#include "http/oss/client.hh"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>

#include "http/oss/sign.hh"
#include "http/oss/time.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

namespace {

// One API a line, in api order.
// clang-format off
constexpr std::array<std::string_view, api_count> api_names = {
    "ListObjectsV2",
    "ListObjects",
    "HeadObject",
    "GetObjectMeta",
    "GetObject",
    "PutObject",
    "DeleteObject",
    "CopyObject",
    "InitiateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
};
// clang-format on

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// Server-provided text put into one log line: newlines shown as "\n".
std::string one_line(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(ch) >= 0x20) {
      out += ch;
    }
  }
  return out;
}

// The server's StringToSign echoes the signed headers, among them the STS token: blank its
// value (header form "x-oss-security-token:T", query form "x-oss-security-token=T") so the
// error message, which reaches logs, never carries a credential.
std::string redact_token(std::string s) {
  constexpr std::string_view name = "x-oss-security-token";
  size_t at = 0;
  while ((at = s.find(name, at)) != std::string::npos) {
    size_t v = at + name.size();
    if (v < s.size() && (s[v] == ':' || s[v] == '=')) {
      ++v;
      size_t end = s.find_first_of("\\&\n", v);  // after one_line() a newline is "\\n"
      end = end == std::string::npos ? s.size() : end;
      s.replace(v, end - v, "<redacted>");
    }
    at = v;
  }
  return s;
}

}  // namespace

std::string_view api_name(api_id a) {
  size_t i = static_cast<size_t>(a);
  return i < api_count ? api_names[i] : "Unknown";
}

oss_client::oss_client(http::client& http, std::shared_ptr<credentials_provider> creds,
                       client_config cfg)
    : _http(http), _creds(std::move(creds)), _cfg(std::move(cfg)) {
  if (!_cfg.sleep) {
    _cfg.sleep = reactor_sleep();
  }
  if (!_cfg.random) {
    _cfg.random = jitter_random;
  }
  if (_cfg.retry.max_attempts == 0) {
    _cfg.retry.max_attempts = 1;
  }
  const http::endpoint& ep = _cfg.endpoint;
  std::string host = ep.host;
  if (host.find(':') != std::string::npos && !host.starts_with('[')) {
    host = "[" + host + "]";  // IPv6 literal
  }
  bool default_port = ep.port == (ep.tls ? 443 : 80);
  _authority = (_cfg.path_style ? "" : _cfg.bucket + ".") + host +
               (default_port ? "" : ":" + std::to_string(ep.port));
  metrics_registry& reg = metrics();
  for (size_t i = 0; i < api_count; ++i) {
    metric_labels labels{{"api", std::string(api_names[i])}};
    api_metrics& m = _metrics[i];
    m.requests = &reg.get_counter("ossuring_oss_requests_total", labels,
                                  "OSS requests sent (attempts, retries included).");
    m.retries = &reg.get_counter("ossuring_oss_retries_total", labels, "OSS requests retried.");
    m.errors = &reg.get_counter("ossuring_oss_errors_total", labels,
                                "OSS calls that failed after their last attempt.");
    m.bytes_received = &reg.get_counter("ossuring_oss_received_bytes_total", labels,
                                        "Response body bytes received from OSS.");
    m.bytes_sent = &reg.get_counter("ossuring_oss_sent_bytes_total", labels,
                                    "Request body bytes sent to OSS.");
    m.latency = &reg.get_histogram("ossuring_oss_request_seconds", labels,
                                   "Latency of one OSS request attempt.");
  }
}

int64_t oss_client::wall_now() const {
  int64_t raw = _cfg.wall_clock ? _cfg.wall_clock() : static_cast<int64_t>(::time(nullptr));
  return raw + _clock_offset.load(std::memory_order_relaxed);
}

std::string oss_client::describe_call(api_id api, std::string_view key) const {
  std::string s(api_name(api));
  s += " oss://";
  s += _cfg.bucket;
  s += '/';
  s += key;
  return s;
}

std::string oss_client::describe_call(const call& c) const {
  return describe_call(c.api, c.message_key.empty() ? c.key : c.message_key);
}

error oss_client::make_check_error(api_id api, std::string_view key, const http::response& r,
                                   std::string what, int code) const {
  error e;
  e.code = code;
  e.message = describe_call(api, key) + ": " + what;
  e.request_id = std::string(r.headers.get("x-oss-request-id"));
  e.http_status = r.status;
  return e;
}

http::request oss_client::build_request(const call& c) const {
  http::request req;
  req.method = std::string(c.method);
  req.authority = _authority;
  std::string target = "/";
  if (_cfg.path_style) {
    target += _cfg.bucket;
    target += '/';
  }
  target += uri_encode_path(c.key);
  if (!c.query.empty()) {
    target += '?';
    target += build_query(c.query);
  }
  req.target = std::move(target);
  req.headers = c.headers;
  req.body = c.body;
  req.in_order = c.in_order;
  return req;
}

oss_client::failure oss_client::error_from_response(const call& c, const http::response& r,
                                                    std::string body) {
  oss_error_info info;
  bool parsed = false;
  if (!body.empty()) {
    if (auto p = parse_error_body(body)) {
      info = std::move(*p);
      parsed = true;
    }
  } else if (auto h = r.headers.find("x-oss-err")) {
    if (auto p = parse_error_header(*h)) {
      info = std::move(*p);
      parsed = true;
    }
  }
  if (!parsed) {
    info.message = "HTTP " + std::to_string(r.status) + " without an OSS error body";
  }
  if (info.request_id.empty()) {
    info.request_id = std::string(r.headers.get("x-oss-request-id"));
  }
  failure f;
  f.err = make_oss_error(r.status, info, describe_call(c));
  if (info.code == "SignatureDoesNotMatch" && !info.string_to_sign.empty()) {
    f.err.message += " (server StringToSign: " + redact_token(one_line(info.string_to_sign)) + ")";
  }
  if (info.code == "RequestTimeTooSkewed") {
    // The server refused before acting, so even a non-idempotent request may go again once the
    // clock agrees with the server's.
    int64_t raw = _cfg.wall_clock ? _cfg.wall_clock() : static_cast<int64_t>(::time(nullptr));
    if (auto off = clock_offset_from(r.headers, raw)) {
      _clock_offset.store(*off, std::memory_order_relaxed);
      f.retryable = true;
    }
  } else {
    f.retryable = c.idempotent && is_retryable_status(r.status, info.code);
  }
  return f;
}

task<result<http::response>> oss_client::execute(call& c, abort_source* abort) {
  api_metrics& m = _metrics[static_cast<size_t>(c.api)];
  auto cancelled = [&] {
    m.errors->add();
    return make_error(ECANCELED, describe_call(c) + ": cancelled");
  };
  // The call's budget counts real time, or the waits asked for when they return at once (an
  // injected sleep in tests), whichever is more.
  const retry_policy policy = _cfg.retry;
  const auto started = std::chrono::steady_clock::now();
  std::chrono::nanoseconds slept{0};
  auto spent = [&] { return std::max(std::chrono::steady_clock::now() - started, slept); };
  for (unsigned attempt = 1;; ++attempt) {
    if (abort && abort->aborted()) {
      co_return cancelled();
    }
    if (_cfg.limiter && !co_await _cfg.limiter->acquire(_cfg.sleep, abort)) {
      co_return cancelled();
    }
    result<credentials> creds = co_await _creds->get();
    if (!creds) {
      error e = std::move(creds).err();
      e.message = describe_call(c) + ": no credentials: " + e.message;
      m.errors->add();
      co_return e;
    }

    http::exchange ex;
    ex.req = build_request(c);
    signing_input in;
    in.method = c.method;
    in.bucket = _cfg.bucket;
    in.key = c.key;
    in.query = c.query;
    if (_cfg.sign_version == 1 || _cfg.region.empty()) {
      sign_request_v1(ex.req, std::move(in), *creds, static_cast<time_t>(wall_now()));
    } else {
      sign_request_v4(ex.req, std::move(in), *creds, _cfg.region, static_cast<time_t>(wall_now()));
    }
    ex.abort = abort;
    ex.timeout = _cfg.request_timeout;
    if (policy.budget.count() > 0 && attempt > 1) {
      // A retry ends with the budget, whatever the per-attempt timeout allows.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(policy.budget - spent());
      left = std::max(left, std::chrono::milliseconds(1));
      if (ex.timeout.count() == 0 || left < ex.timeout) {
        ex.timeout = left;
      }
    }
    if (!c.payload.empty()) {
      ex.request_body = http::body_from_view(
          std::string_view(reinterpret_cast<const char*>(c.payload.data()), c.payload.size()));
      ex.request_body_length = c.payload.size();
    }
    c.received = 0;
    if (c.prepare) {
      c.prepare(ex);
    }

    auto t0 = std::chrono::steady_clock::now();
    result<http::response> r = co_await _http.send(ex);
    m.latency->record(std::chrono::steady_clock::now() - t0);
    m.requests->add();
    m.bytes_sent->add(c.payload.size() + c.body.size());

    failure f;
    if (!r) {
      f.err = std::move(r).err();
      f.err.message = describe_call(c) + ": " + f.err.message;
      // EAGAIN from the transport is an HTTP/2 stream the server refused (REFUSED_STREAM, or
      // above a GOAWAY's last stream): never processed, so safe to send again even for a POST,
      // and the body is rebuilt for each attempt.
      f.retryable = f.err.code == EAGAIN || (c.idempotent && is_retryable_errno(f.err.code));
      m.bytes_received->add(c.received);
    } else if ((r->status >= 200 && r->status < 300) || r->status == c.also_ok_status) {
      m.bytes_received->add(r->body.size() + c.received);
      std::optional<failure> bad = c.validate ? c.validate(*r) : std::nullopt;
      if (!bad) {
        co_return std::move(*r);
      }
      f = std::move(*bad);
      f.retryable = f.retryable && c.idempotent;
    } else {
      m.bytes_received->add(r->body.size() + c.received);
      std::string body = c.sink_text ? c.sink_text() : std::move(r->body);
      f = error_from_response(c, *r, std::move(body));
    }

    const bool throttled = is_throttling(f.err.http_status, f.err.oss_code);
    const unsigned attempts =
        throttled ? std::max(policy.max_attempts, policy.throttled_attempts) : policy.max_attempts;
    std::chrono::nanoseconds delay = backoff_delay(policy, attempt, _cfg.random());
    // Only r->body was moved from: clang-tidy takes that for a move of `r`.
    if (r) {  // NOLINT(bugprone-use-after-move)
      if (auto q = qos_delay(r->headers)) {
        delay = std::max<std::chrono::nanoseconds>(delay, std::min(*q, policy.max_qos_delay));
      }
    }
    const bool over_budget = policy.budget.count() > 0 && spent() + delay >= policy.budget;
    if (!f.retryable || attempt >= attempts || over_budget || (abort && abort->aborted())) {
      if (f.retryable && over_budget && attempt < attempts) {
        f.err.message += " (retries stopped: the call's " +
                         std::to_string(policy.budget.count() / 1000) + " s budget is spent)";
      }
      m.errors->add();
      co_return std::move(f.err);
    }
    m.retries->add();
    slept += delay;
    if (!co_await _cfg.sleep(delay, abort)) {
      co_return cancelled();
    }
  }
}

void oss_client::parse_object_headers(const http::header_list& h, object_info& out) {
  uint64_t n = 0;
  if (parse_u64(h.get("content-length"), n)) {
    out.size = n;
  }
  out.etag = std::string(strip_etag_quotes(h.get("etag")));
  if (auto t = parse_rfc1123(h.get("last-modified"))) {
    out.mtime_sec = *t;
    out.mtime_nsec = 0;
  }
  out.storage_class = std::string(h.get("x-oss-storage-class"));
  out.object_type = std::string(h.get("x-oss-object-type"));
  if (parse_u64(h.get("x-oss-hash-crc64ecma"), n)) {
    out.crc64 = n;
  }
  out.content_type = std::string(h.get("content-type"));
  out.request_id = std::string(h.get("x-oss-request-id"));
  for (const http::header& hd : h) {
    if (hd.name.size() > 11 &&
        http::iequals(std::string_view(hd.name).substr(0, 11), "x-oss-meta-")) {
      std::string name(hd.name.substr(11));
      for (char& ch : name) {
        if (ch >= 'A' && ch <= 'Z') {
          ch = static_cast<char>(ch - 'A' + 'a');
        }
      }
      out.user_meta[name] = hd.value;
    }
  }
}

std::vector<api_stats> oss_client::stats() const {
  std::vector<api_stats> out;
  for (size_t i = 0; i < api_count; ++i) {
    const api_metrics& m = _metrics[i];
    api_stats s;
    s.api = api_names[i];
    s.requests = m.requests->value();
    s.retries = m.retries->value();
    s.errors = m.errors->value();
    s.bytes_received = m.bytes_received->value();
    s.bytes_sent = m.bytes_sent->value();
    s.latency = m.latency->snapshot();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ossuring::oss
