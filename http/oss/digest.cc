// OpenSSL EVP wrappers: HMAC, SHA-256, MD5, base64.
#include "http/oss/digest.hh"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace ossuring::oss {

namespace {

template <size_t N>
std::array<uint8_t, N> hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  // HMAC() with a caller buffer cannot fail for these digests except on allocation failure.
  if (HMAC(md, key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr ||
      len != N) {
    throw std::runtime_error("HMAC failed");
  }
  return out;
}

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, std::string_view data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N) {
    throw std::runtime_error("EVP_Digest failed");
  }
  return out;
}

}  // namespace

sha1_digest hmac_sha1(std::string_view key, std::string_view data) {
  return hmac<20>(EVP_sha1(), key, data);
}

sha256_digest hmac_sha256(std::string_view key, std::string_view data) {
  return hmac<32>(EVP_sha256(), key, data);
}

sha256_digest sha256(std::string_view data) {
  return digest<32>(EVP_sha256(), data);
}

md5_digest md5(std::string_view data) {
  return digest<16>(EVP_md5(), data);
}

std::string hex_lower(const uint8_t* data, size_t len) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.resize(len * 2);
  for (size_t i = 0; i < len; ++i) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 0xf];
  }
  return s;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.resize(4 * ((bytes.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock tolerates some junk (leading/trailing whitespace) and does not report
  // padding, so validate the shape first: length multiple of 4, padding only at the end.
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/';
    if (c == '=') {
      if (i + 2 < text.size()) {
        return std::nullopt;
      }
      ++pad;
    } else if (!alpha || pad != 0) {
      return std::nullopt;
    }
  }
  std::string out;
  out.resize(text.size() / 4 * 3);
  if (text.empty()) {
    return out;
  }
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) {
    return std::nullopt;
  }
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace ossuring::oss
