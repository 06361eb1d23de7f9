// OSS request signing (V1 HMAC-SHA1 and V4 OSS4-HMAC-SHA256): string-to-sign construction,
// signatures, client-side request signing and server-side Authorization parsing (emulator).
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.hh"

namespace ossuring::oss {

struct credentials {
  std::string access_key_id;
  std::string access_key_secret;
  std::string security_token;  // empty for long-term keys
  int64_t expiration = 0;      // seconds since the epoch; 0 = does not expire
};

// What a signature covers. Views must outlive the call.
struct signing_input {
  std::string_view method;
  std::string_view bucket;  // empty for service-level requests
  std::string_view key;     // raw (decoded) object key; empty for bucket-level requests
  // Decoded query parameters; a bare `k` has an empty value. V1 signs only sub-resources.
  std::vector<std::pair<std::string, std::string>> query;
  // All request headers (x-oss-*, content-type, content-md5, date, ...). May be null (none).
  const http::header_list* headers = nullptr;
};

inline constexpr std::string_view v4_algorithm = "OSS4-HMAC-SHA256";
inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";

// True when `name` is a query parameter V1 puts into the CanonicalizedResource.
bool v1_is_signed_subresource(std::string_view name);

// VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedOSSHeaders CanonicalizedResource.
// The Date line is x-oss-date when present, else the Date header.
std::string v1_string_to_sign(const signing_input& in);
// base64(HMAC-SHA1(secret, string_to_sign)).
std::string v1_signature(std::string_view secret, std::string_view string_to_sign);

// `additional_headers` are header names (any case) signed besides x-oss-*, content-type and
// content-md5; they are lower-cased, sorted and deduplicated for the AdditionalHeaders line.
std::string v4_canonical_request(const signing_input& in,
                                 const std::vector<std::string>& additional_headers);
// x_oss_date is yyyymmddTHHMMSSZ; its first 8 characters are the scope date.
std::string v4_string_to_sign(std::string_view canonical_request, std::string_view x_oss_date,
                              std::string_view region);
// Lower-case hex HMAC-SHA256 with the derived signing key.
std::string v4_signature(std::string_view secret, std::string_view date8, std::string_view region,
                         std::string_view string_to_sign);
// Lower-cased, sorted, deduplicated form of additional header names, as signed ("a;b").
std::vector<std::string> v4_normalize_additional_headers(const std::vector<std::string>& names);

// Client side V1: sets Date (RFC 1123 of `now`) unless present, x-oss-security-token when the
// credentials carry one, then Authorization. `in.headers` is ignored: req.headers is signed.
void sign_request_v1(http::request& req, signing_input in, const credentials& creds, time_t now);
// Client side V4: sets x-oss-date, x-oss-content-sha256: UNSIGNED-PAYLOAD, x-oss-security-token
// (STS) and Authorization. `in.headers` is ignored: req.headers is signed.
void sign_request_v4(http::request& req, signing_input in, const credentials& creds,
                     std::string_view region, time_t now,
                     const std::vector<std::string>& additional_headers = {});

// Server side: the parts of an Authorization header value.
struct parsed_authorization {
  int version = 0;  // 1 or 4
  std::string access_key_id;
  std::string signature;                        // V1 base64, V4 lower-case hex
  std::string date8;                            // V4 only
  std::string region;                           // V4 only
  std::vector<std::string> additional_headers;  // V4 only, as listed (lower case)
};
std::optional<parsed_authorization> parse_authorization(std::string_view value);

}  // namespace ossuring::oss
