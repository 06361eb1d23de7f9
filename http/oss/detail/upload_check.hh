// Shared by put_object.cc and multipart.cc: the CRC-64 check of an upload answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/oss/client.hh"

namespace ossuring::oss::detail {

// Checks the x-oss-hash-crc64ecma of an upload answer against `expected` (absent is accepted;
// a mismatch is retryable: the bytes were damaged on the way). Sets `out` when present.
std::optional<oss_client::failure> check_upload_crc(const oss_client& client, api_id api,
                                                    std::string_view key, const http::response& r,
                                                    uint64_t expected,
                                                    std::optional<uint64_t>& out);

}  // namespace ossuring::oss::detail
