// Server-side verification of OSS V1 and V4 signatures and STS tokens against configured
// credentials, answering like OSS (SignatureDoesNotMatch shows the server's StringToSign).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hh"
#include "http/oss/sign.hh"
#include "http/oss/uri.hh"

namespace ossuring::emu {

struct auth_config {
  // A key with a non-empty security_token is an STS key: its requests must carry that token in
  // x-oss-security-token.
  std::vector<oss::credentials> keys;
  // Accept unsigned requests and S3-signed ones (s3fs, rclone) without checking them.
  bool anonymous = false;
  int64_t max_skew_sec = 15 * 60;
};

struct auth_failure {
  int status = 403;
  std::string code;
  std::string message;
  std::string string_to_sign;     // SignatureDoesNotMatch
  std::string canonical_request;  // SignatureDoesNotMatch, V4
};

struct auth_subject {
  std::string_view bucket;
  std::string_view key;                      // decoded
  const oss::query_params* query = nullptr;  // decoded
};

// nullopt when the request is authorised. `now` is the server's wall clock (seconds).
std::optional<auth_failure> verify_request(const auth_config& cfg, const http::request& req,
                                           const auth_subject& subject, int64_t now);

// "20231216T162057Z" -> seconds since the epoch; EINVAL when malformed.
result<int64_t> parse_v4_date(std::string_view s);

}  // namespace ossuring::emu
