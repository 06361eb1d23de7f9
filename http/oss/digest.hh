// Thin wrappers over OpenSSL EVP for the digests OSS needs: HMAC-SHA1/SHA256, SHA-256, MD5,
// base64 and hex. No cryptography is implemented here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ossuring::oss {

using sha1_digest = std::array<uint8_t, 20>;
using sha256_digest = std::array<uint8_t, 32>;
using md5_digest = std::array<uint8_t, 16>;

sha1_digest hmac_sha1(std::string_view key, std::string_view data);
sha256_digest hmac_sha256(std::string_view key, std::string_view data);
sha256_digest sha256(std::string_view data);
md5_digest md5(std::string_view data);

std::string hex_lower(const uint8_t* data, size_t len);
template <size_t N>
std::string hex_lower(const std::array<uint8_t, N>& d) {
  return hex_lower(d.data(), N);
}

std::string base64_encode(std::string_view bytes);
template <size_t N>
std::string base64_encode(const std::array<uint8_t, N>& d) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(d.data()), N));
}
// Standard alphabet with padding; nullopt on any malformed input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ossuring::oss
