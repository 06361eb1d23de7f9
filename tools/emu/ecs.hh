// A fake ECS instance-metadata endpoint (100.100.100.200) serving RAM-role STS credentials,
// with the hardened (token) mode, so credential refresh can be tested offline.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "http/message.hh"
#include "http/oss/sign.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

struct ecs_config {
  std::string role = "ossemu-role";
  oss::credentials creds;  // served as AccessKeyId/AccessKeySecret/SecurityToken
  int64_t ttl_sec = 3600;  // Expiration = now + ttl
  bool hardened = false;   // require PUT /latest/api/token and the token header
};

class ecs_endpoint {
 public:
  explicit ecs_endpoint(ecs_config cfg);

  // GET /latest/meta-data/ram/security-credentials/ -> role name;
  // GET /latest/meta-data/ram/security-credentials/<role> -> JSON credentials;
  // PUT /latest/api/token (X-aliyun-ecs-metadata-token-ttl-seconds: 1..21600) -> token.
  response handle(const http::request& req);

  void set_wall_clock(std::function<int64_t()> clock) { _wall = std::move(clock); }
  void set_credentials(oss::credentials creds);
  uint64_t credential_requests() const { return _credential_requests.load(); }

 private:
  ecs_config _cfg;
  std::function<int64_t()> _wall;
  std::mutex _mu;
  std::map<std::string, int64_t, std::less<>> _tokens;  // token -> expiry (seconds)
  uint64_t _token_seq = 0;
  std::atomic<uint64_t> _credential_requests{0};
};

}  // namespace ossuring::emu
