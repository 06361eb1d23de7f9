// RAII aliases for the OpenSSL and nghttp2 C handles used by the memory-buffer engines.
#pragma once

#include <memory>

#include <nghttp2/nghttp2.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace ossuring::http::detail {

template <auto free_fn>
struct c_deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) {
      free_fn(p);
    }
  }
};

using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, c_deleter<SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, c_deleter<SSL_free>>;
using bio_ptr = std::unique_ptr<BIO, c_deleter<BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, c_deleter<X509_free>>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, c_deleter<EVP_PKEY_free>>;
using ssl_session_ptr = std::unique_ptr<SSL_SESSION, c_deleter<SSL_SESSION_free>>;

using nghttp2_session_ptr = std::unique_ptr<nghttp2_session, c_deleter<nghttp2_session_del>>;
using nghttp2_callbacks_ptr =
    std::unique_ptr<nghttp2_session_callbacks, c_deleter<nghttp2_session_callbacks_del>>;
using nghttp2_option_ptr = std::unique_ptr<nghttp2_option, c_deleter<nghttp2_option_del>>;

}  // namespace ossuring::http::detail
