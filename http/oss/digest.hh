// Thin wrappers over OpenSSL EVP for the digests OSS needs: HMAC-SHA1/SHA256, SHA-256, MD5,
// base64 and hex. No cryptography is implemented here.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
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

namespace detail {
struct mac_ctx_free {
  void operator()(void* ctx) const;
};
}  // namespace detail

// An HMAC key prepared once (the padded key hashed into the context) and reused for many
// messages, so a signature costs only the message's hashing. Not thread-safe: one per thread.
template <size_t N>  // 20: HMAC-SHA1, 32: HMAC-SHA256
class hmac_key {
 public:
  explicit hmac_key(std::string_view key);
  std::array<uint8_t, N> operator()(std::string_view data) const;

 private:
  std::unique_ptr<void, detail::mac_ctx_free> _ctx;
};
extern template class hmac_key<20>;
extern template class hmac_key<32>;

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
