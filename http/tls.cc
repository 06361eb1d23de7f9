// TLS sessions over OpenSSL memory BIOs: contexts, verification, ALPN and client resumption.
#include "http/tls.hh"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace ossuring::http {

namespace {

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::vector<unsigned char> alpn_wire(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) {
      continue;
    }
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  return wire;
}

error tls_failure(int code, std::string_view what) {
  std::string queue = tls_error_string();
  std::string message = "tls: " + std::string(what);
  if (!queue.empty()) {
    message += ": " + queue;
  }
  return make_error(code, std::move(message));
}

// Picks the first server-preferred protocol the client offered.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto& prefs = *static_cast<const std::vector<unsigned char>*>(arg);
  for (size_t i = 0; i < prefs.size(); i += 1 + prefs[i]) {
    std::string_view want(reinterpret_cast<const char*>(&prefs[i + 1]), prefs[i]);
    for (unsigned int j = 0; j < inlen; j += 1 + in[j]) {
      if (j + 1 + in[j] > inlen) {
        break;
      }
      std::string_view offered(reinterpret_cast<const char*>(&in[j + 1]), in[j]);
      if (offered == want) {
        *out = &in[j + 1];
        *outlen = in[j];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::string tls_error_string() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!s.empty()) {
      s += "; ";
    }
    s += buf;
  }
  return s;
}

result<std::shared_ptr<tls_context>> tls_context::client(tls_client_config config) {
  ERR_clear_error();
  std::shared_ptr<tls_context> ctx(new tls_context());
  ctx->_ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!ctx->_ctx) {
    return tls_failure(ENOMEM, "SSL_CTX_new");
  }
  SSL_CTX* raw = ctx->_ctx.get();
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  // OSS and many proxies close without close_notify; HTTP framing detects truncation instead.
  SSL_CTX_set_options(raw, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (config.verify) {
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    int ok = config.ca_file.empty()
                 ? SSL_CTX_set_default_verify_paths(raw)
                 : SSL_CTX_load_verify_locations(raw, config.ca_file.c_str(), nullptr);
    if (ok != 1) {
      return tls_failure(EINVAL, "cannot load CA certificates" +
                                     (config.ca_file.empty() ? "" : " from " + config.ca_file));
    }
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }
  if (!config.alpn.empty()) {
    std::vector<unsigned char> wire = alpn_wire(config.alpn);
    if (SSL_CTX_set_alpn_protos(raw, wire.data(), static_cast<unsigned>(wire.size())) != 0) {
      return tls_failure(EINVAL, "cannot set ALPN protocols");
    }
  }
  if (config.resume_sessions) {
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(raw, tls_session::on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  }
  ctx->_client = std::move(config);
  return ctx;
}

result<std::shared_ptr<tls_context>> tls_context::server(tls_server_config config) {
  ERR_clear_error();
  std::shared_ptr<tls_context> ctx(new tls_context());
  ctx->_server = true;
  ctx->_ctx.reset(SSL_CTX_new(TLS_server_method()));
  if (!ctx->_ctx) {
    return tls_failure(ENOMEM, "SSL_CTX_new");
  }
  SSL_CTX* raw = ctx->_ctx.get();
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_use_certificate_chain_file(raw, config.cert_file.c_str()) != 1) {
    return tls_failure(EINVAL, "cannot load certificate " + config.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(raw, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return tls_failure(EINVAL, "cannot load private key " + config.key_file);
  }
  if (SSL_CTX_check_private_key(raw) != 1) {
    return tls_failure(EINVAL, "private key does not match certificate");
  }
  static const unsigned char sid_context[] = "ossuring";
  SSL_CTX_set_session_id_context(raw, sid_context, sizeof(sid_context) - 1);
  ctx->_alpn_wire = alpn_wire(config.alpn);
  if (!ctx->_alpn_wire.empty()) {
    SSL_CTX_set_alpn_select_cb(raw, select_alpn, &ctx->_alpn_wire);
  }
  ctx->_server_config = std::move(config);
  return ctx;
}

size_t tls_context::cached_sessions() const {
  std::lock_guard lock(_cache_mutex);
  return _cache.size();
}

void tls_context::store_session(const std::string& key, SSL_SESSION* session) {
  std::lock_guard lock(_cache_mutex);
  _cache[key].reset(session);
}

detail::ssl_session_ptr tls_context::find_session(const std::string& key) {
  std::lock_guard lock(_cache_mutex);
  auto it = _cache.find(key);
  if (it == _cache.end()) {
    return nullptr;
  }
  if (SSL_SESSION_is_resumable(it->second.get()) == 0) {
    _cache.erase(it);  // OpenSSL invalidated it (its connection failed)
    return nullptr;
  }
  SSL_SESSION_up_ref(it->second.get());
  return detail::ssl_session_ptr(it->second.get());
}

// Client session cache: OpenSSL hands us each new session (TLS 1.3 tickets arrive after the
// handshake); we keep the newest per host:port.
int tls_session::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* owner = static_cast<tls_session*>(SSL_get_app_data(ssl));
  if (owner == nullptr || owner->_cache_key.empty() || !SSL_SESSION_is_resumable(session)) {
    return 0;
  }
  owner->_context->store_session(owner->_cache_key, session);
  return 1;  // we keep the reference
}

result<std::unique_ptr<tls_session>> tls_session::make(std::shared_ptr<tls_context> context) {
  ERR_clear_error();
  std::unique_ptr<tls_session> s(new tls_session());
  s->_context = std::move(context);
  s->_ssl.reset(SSL_new(s->_context->native()));
  detail::bio_ptr rbio(BIO_new(BIO_s_mem()));
  detail::bio_ptr wbio(BIO_new(BIO_s_mem()));
  if (!s->_ssl || !rbio || !wbio) {
    return tls_failure(ENOMEM, "SSL_new");
  }
  // An empty input BIO means "wait for more", not end of stream (feed_eof() changes that).
  BIO_set_mem_eof_return(rbio.get(), -1);
  s->_rbio = rbio.release();
  s->_wbio = wbio.release();
  SSL_set_bio(s->_ssl.get(), s->_rbio, s->_wbio);
  SSL_set_app_data(s->_ssl.get(), s.get());
  return s;
}

result<std::unique_ptr<tls_session>> tls_session::client(std::shared_ptr<tls_context> context,
                                                         std::string host, uint16_t port) {
  if (context->is_server()) {
    return make_error(EINVAL, "tls: client session from a server context");
  }
  bool verify = context->_client.verify;
  bool resume = context->_client.resume_sessions;
  result<std::unique_ptr<tls_session>> made = make(std::move(context));
  if (!made) {
    return made;
  }
  tls_session& s = **made;
  SSL* ssl = s._ssl.get();
  SSL_set_connect_state(ssl);
  bool ip = is_ip_address(host);
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return tls_failure(EINVAL, "cannot set SNI " + host);
  }
  if (verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : SSL_set1_host(ssl, host.c_str());
    if (ok != 1) {
      return tls_failure(EINVAL, "cannot set expected host " + host);
    }
  }
  if (resume) {
    s._cache_key = host + ":" + std::to_string(port);
    if (detail::ssl_session_ptr cached = s._context->find_session(s._cache_key)) {
      SSL_set_session(ssl, cached.get());  // takes its own reference
    }
  }
  return made;
}

result<std::unique_ptr<tls_session>> tls_session::server(std::shared_ptr<tls_context> context) {
  if (!context->is_server()) {
    return make_error(EINVAL, "tls: server session from a client context");
  }
  result<std::unique_ptr<tls_session>> made = make(std::move(context));
  if (made) {
    SSL_set_accept_state((*made)->_ssl.get());
  }
  return made;
}

tls_session::~tls_session() {
  if (_ssl) {
    SSL_set_app_data(_ssl.get(), nullptr);
    // SSL_free() on a connection that did not exchange close_notify marks its session
    // unresumable. Transports close HTTP connections without it all the time, so only a
    // failed connection should lose its cached session.
    if (!_failed) {
      SSL_set_shutdown(_ssl.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
  }
}

error tls_session::failure(int ssl_error, std::string_view what) {
  _failed = true;
  long verify = SSL_get_verify_result(_ssl.get());
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return make_error(EACCES, "tls: " + std::string(what) + ": certificate verification failed: " +
                                  X509_verify_cert_error_string(verify));
  }
  if (ssl_error == SSL_ERROR_SYSCALL) {
    return tls_failure(ECONNRESET, std::string(what) + ": connection closed");
  }
  return tls_failure(EPROTO, what);
}

status tls_session::feed(std::span<const char> data) {
  if (data.empty()) {
    return {};
  }
  int n = BIO_write(_rbio, data.data(), static_cast<int>(data.size()));
  if (n != static_cast<int>(data.size())) {
    return tls_failure(ENOMEM, "cannot buffer received data");
  }
  return {};
}

void tls_session::feed_eof() {
  BIO_set_mem_eof_return(_rbio, 0);
}

bool tls_session::handshake_done() const {
  return SSL_is_init_finished(_ssl.get()) == 1;
}

result<bool> tls_session::handshake() {
  if (handshake_done()) {
    return true;
  }
  ERR_clear_error();
  int rv = SSL_do_handshake(_ssl.get());
  if (rv == 1) {
    return true;
  }
  int e = SSL_get_error(_ssl.get(), rv);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    return false;
  }
  return failure(e, "handshake");
}

result<size_t> tls_session::read(std::span<char> buf) {
  if (_peer_closed) {
    return size_t{0};
  }
  ERR_clear_error();
  size_t n = 0;
  if (SSL_read_ex(_ssl.get(), buf.data(), buf.size(), &n) == 1) {
    return n;
  }
  int e = SSL_get_error(_ssl.get(), 0);
  switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return size_t{0};
    case SSL_ERROR_ZERO_RETURN:
      _peer_closed = true;
      return size_t{0};
    default:
      return failure(e, "read");
  }
}

result<size_t> tls_session::write(std::span<const char> data) {
  if (data.empty()) {
    return size_t{0};
  }
  ERR_clear_error();
  size_t n = 0;
  if (SSL_write_ex(_ssl.get(), data.data(), data.size(), &n) == 1) {
    return n;
  }
  int e = SSL_get_error(_ssl.get(), 0);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    return size_t{0};
  }
  return failure(e, "write");
}

status tls_session::shutdown() {
  ERR_clear_error();
  int rv = SSL_shutdown(_ssl.get());
  if (rv < 0) {
    int e = SSL_get_error(_ssl.get(), rv);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      return failure(e, "shutdown");
    }
  }
  return {};
}

std::string_view tls_session::output() {
  if (_out_pos == _out.size()) {
    _out.clear();
    _out_pos = 0;
  }
  size_t pending = BIO_ctrl_pending(_wbio);
  if (pending > 0) {
    size_t old = _out.size();
    _out.resize(old + pending);
    int n = BIO_read(_wbio, _out.data() + old, static_cast<int>(pending));
    _out.resize(old + static_cast<size_t>(std::max(n, 0)));
  }
  return std::string_view(_out).substr(_out_pos);
}

void tls_session::consume_output(size_t n) {
  _out_pos = std::min(_out.size(), _out_pos + n);
}

bool tls_session::has_output() const {
  return _out_pos < _out.size() || BIO_ctrl_pending(_wbio) > 0;
}

std::string_view tls_session::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(_ssl.get(), &data, &len);
  return data == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(data), len);
}

std::string_view tls_session::server_name() const {
  const char* name = SSL_get_servername(_ssl.get(), TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

bool tls_session::session_reused() const {
  return SSL_session_reused(_ssl.get()) == 1;
}

}  // namespace ossuring::http
