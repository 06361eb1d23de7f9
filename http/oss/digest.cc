// OpenSSL EVP wrappers: HMAC, SHA-256, MD5, base64.
#include "http/oss/digest.hh"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdexcept>
#include <string>

namespace ossuring::oss {

namespace {

// Algorithms are fetched once: OpenSSL 3's implicit fetch inside each one-shot call (HMAC(),
// EVP_Digest with EVP_sha256()) takes a global lock and a hash-table lookup every time.
// Fetched objects are immutable and may be shared by threads; contexts may not.
EVP_MAC* hmac_algorithm() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) {
    throw std::runtime_error("OpenSSL lacks HMAC");
  }
  return mac;
}

const EVP_MD* fetch_md(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) {
    throw std::runtime_error(std::string("OpenSSL lacks ") + name);
  }
  return md;
}

EVP_MAC_CTX* new_hmac_ctx(size_t digest_size, std::string_view key) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_algorithm());
  if (ctx == nullptr) {
    throw std::runtime_error("EVP_MAC_CTX_new failed");
  }
  char name[8];
  std::string_view n = digest_size == 20 ? "SHA1" : "SHA256";
  n.copy(name, n.size());
  name[n.size()] = '\0';
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0),
                         OSSL_PARAM_construct_end()};
  // A zero-length key is legal HMAC; OpenSSL wants a non-null pointer for it.
  static const unsigned char empty = 0;
  const unsigned char* k =
      key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx, k, key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    throw std::runtime_error("EVP_MAC_init failed");
  }
  return ctx;
}

template <size_t N>
void mac_final(EVP_MAC_CTX* ctx, std::string_view data, std::array<uint8_t, N>& out) {
  size_t len = 0;
  if (EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, N) != 1 || len != N) {
    throw std::runtime_error("HMAC failed");
  }
}

template <size_t N>
std::array<uint8_t, N> hmac(std::string_view key, std::string_view data) {
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(new_hmac_ctx(N, key),
                                                                &EVP_MAC_CTX_free);
  std::array<uint8_t, N> out{};
  mac_final(ctx.get(), data, out);
  return out;
}

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, std::string_view data) {
  // One reusable context per thread and algorithm.
  struct ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, ctx_free> ctx(EVP_MD_CTX_new());
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != N) {
    throw std::runtime_error("digest failed");
  }
  return out;
}

}  // namespace

void detail::mac_ctx_free::operator()(void* ctx) const {
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx));
}

template <size_t N>
hmac_key<N>::hmac_key(std::string_view key) : _ctx(new_hmac_ctx(N, key)) {}

template <size_t N>
std::array<uint8_t, N> hmac_key<N>::operator()(std::string_view data) const {
  auto* ctx = static_cast<EVP_MAC_CTX*>(_ctx.get());
  // A null key re-initialises from the prepared key state (no re-hashing of the key).
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1) {
    throw std::runtime_error("EVP_MAC_init failed");
  }
  std::array<uint8_t, N> out{};
  mac_final(ctx, data, out);
  return out;
}

template class hmac_key<20>;
template class hmac_key<32>;

sha1_digest hmac_sha1(std::string_view key, std::string_view data) {
  return hmac<20>(key, data);
}

sha256_digest hmac_sha256(std::string_view key, std::string_view data) {
  return hmac<32>(key, data);
}

sha256_digest sha256(std::string_view data) {
  static const EVP_MD* const md = fetch_md("SHA256");
  return digest<32>(md, data);
}

md5_digest md5(std::string_view data) {
  static const EVP_MD* const md = fetch_md("MD5");
  return digest<16>(md, data);
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
