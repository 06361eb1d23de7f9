// Time formats of the OSS protocol: RFC 1123 (Date, Last-Modified), ISO 8601 (listings,
// credential Expiration) and the V4 x-oss-date (yyyymmddTHHMMSSZ). Locale-independent, UTC only.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "core/result.hh"

namespace ossuring::oss {

struct timestamp {
  int64_t sec = 0;  // seconds since the epoch
  uint32_t nsec = 0;

  bool operator==(const timestamp&) const = default;
};

// "Wed, 28 Dec 2022 10:27:41 GMT".
std::string format_rfc1123(int64_t sec);
// Accepts exactly the RFC 1123 form above (zone "GMT" or "UTC"); EINVAL otherwise.
result<int64_t> parse_rfc1123(std::string_view s);

// "2023-12-29T07:45:02Z", with optional fraction (".000", up to 9 digits) and zone "Z" or
// "+hh:mm"/"-hh:mm". EINVAL on anything else, including out-of-range fields.
result<timestamp> parse_iso8601(std::string_view s);
// "2023-12-29T07:45:02.000Z" (milliseconds, as OSS writes LastModified).
std::string format_iso8601(int64_t sec, uint32_t nsec = 0);

// "20231216T162057Z" (V4 x-oss-date); its first 8 characters are the scope date.
std::string format_v4_date(int64_t sec);

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

}  // namespace ossuring::oss
