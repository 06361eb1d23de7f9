// Fake ECS metadata service.
#include "tools/emu/ecs.hh"

#include <ctime>

#include "core/json.hh"
#include "http/oss/time.hh"
#include "tools/emu/content.hh"

namespace ossuring::emu {

namespace {

constexpr std::string_view creds_prefix = "/latest/meta-data/ram/security-credentials/";

response text(int status, std::string body, std::string_view type = "text/plain") {
  response r;
  r.status = status;
  r.headers.add("Content-Type", std::string(type));
  r.headers.add("Content-Length", std::to_string(body.size()));
  r.headers.add("Server", "ossemu-ecs");
  r.body = std::move(body);
  return r;
}

// "2023-12-29T07:45:02Z": ISO 8601 without fraction, as the metadata service writes it.
std::string iso_seconds(int64_t t) {
  std::string s = oss::format_iso8601(t);
  if (size_t dot = s.find('.'); dot != std::string::npos) {
    s = s.substr(0, dot) + "Z";
  }
  return s;
}

}  // namespace

ecs_endpoint::ecs_endpoint(ecs_config cfg)
    : _cfg(std::move(cfg)), _wall([] { return static_cast<int64_t>(::time(nullptr)); }) {}

void ecs_endpoint::set_credentials(oss::credentials creds) {
  std::lock_guard lock(_mu);
  _cfg.creds = std::move(creds);
}

response ecs_endpoint::handle(const http::request& req) {
  int64_t now = _wall();
  std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (path == "/latest/api/token") {
    if (req.method != "PUT") {
      return text(405, "Method Not Allowed");
    }
    std::string_view ttl_text = req.headers.get("x-aliyun-ecs-metadata-token-ttl-seconds");
    int64_t ttl = 0;
    for (char c : ttl_text) {
      if (c < '0' || c > '9' || ttl > 100000) {
        ttl = -1;
        break;
      }
      ttl = ttl * 10 + (c - '0');
    }
    if (ttl < 1 || ttl > 21600) {
      return text(400, "X-aliyun-ecs-metadata-token-ttl-seconds must be 1..21600");
    }
    std::lock_guard lock(_mu);
    std::string token = synthetic_etag("ecs-token", ++_token_seq) + std::to_string(now);
    _tokens[token] = now + ttl;
    return text(200, token);
  }
  if (req.method != "GET") {
    return text(405, "Method Not Allowed");
  }
  if (_cfg.hardened) {
    std::lock_guard lock(_mu);
    auto it = _tokens.find(req.headers.get("x-aliyun-ecs-metadata-token"));
    if (it == _tokens.end() || it->second <= now) {
      return text(401, "Unauthorized: metadata token missing or expired");
    }
  }
  if (path == creds_prefix || path == creds_prefix.substr(0, creds_prefix.size() - 1)) {
    return text(200, _cfg.role);
  }
  if (path.starts_with(creds_prefix) && path.substr(creds_prefix.size()) == _cfg.role) {
    _credential_requests.fetch_add(1);
    std::lock_guard lock(_mu);
    std::string body = "{\"AccessKeyId\":" + json_quote(_cfg.creds.access_key_id) +
                       ",\"AccessKeySecret\":" + json_quote(_cfg.creds.access_key_secret) +
                       ",\"SecurityToken\":" + json_quote(_cfg.creds.security_token) +
                       ",\"Expiration\":\"" + iso_seconds(now + _cfg.ttl_sec) +
                       "\",\"LastUpdated\":\"" + iso_seconds(now) + "\",\"Code\":\"Success\"}";
    return text(200, std::move(body), "application/json");
  }
  return text(404, "Not Found");
}

}  // namespace ossuring::emu
