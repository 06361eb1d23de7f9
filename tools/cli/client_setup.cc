// Credentials chain, HTTP client and oss_client construction from a mount_config.
#include "tools/cli/client_setup.hh"

#include "core/net.hh"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace ossuring::cli {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// "https://100.100.100.200/latest/meta-data/ram/security-credentials/Role" -> "Role".
std::string role_name(const std::string& ram_role) {
  if (ram_role.find("://") == std::string::npos) {
    return ram_role;
  }
  std::string_view v = ram_role;
  while (v.ends_with('/')) {
    v.remove_suffix(1);
  }
  size_t slash = v.rfind('/');
  return std::string(slash == std::string_view::npos ? v : v.substr(slash + 1));
}

// An IP literal names no bucket host, so it is addressed path style (emulators, proxies);
// real OSS endpoints are names and get virtual-hosted requests unless --path-style.
bool path_style_for(const mount_config& cfg, const http::endpoint& ep) {
  return cfg.path_style || (!ep.host.empty() && parse_numeric_address(ep.host, 0).ok());
}

// Virtual-hosted requests connect to BUCKET.ENDPOINT, as every OSS SDK does: the name OSS's DNS
// answers for the bucket, sent as SNI and checked against the certificate
// (*.oss-REGION.aliyuncs.com).
http::endpoint connect_endpoint(const mount_config& cfg, const http::endpoint& ep) {
  http::endpoint c = ep;
  if (!path_style_for(cfg, ep)) {
    c.host = cfg.bucket + "." + ep.host;
  }
  return c;
}

}  // namespace

http::client_options http_options(const mount_config& cfg) {
  http::client_options o;
  o.http = cfg.http;
  o.verify_peer = !cfg.insecure_skip_verify;
  o.ca_file = cfg.ca_file;
  o.connect_timeout = std::chrono::milliseconds(cfg.connect_timeout_ms);
  o.first_byte_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  return o;
}

result<http::endpoint> resolve_endpoint(const mount_config& cfg) {
  if (!cfg.endpoint.empty()) {
    return http::parse_endpoint(cfg.endpoint);
  }
  if (!cfg.region.empty()) {
    return http::parse_endpoint("https://oss-" + cfg.region + ".aliyuncs.com");
  }
  return make_error(EINVAL, "no endpoint: give --endpoint (or --region)");
}

std::string resolve_region(const mount_config& cfg, const http::endpoint& ep) {
  if (!cfg.region.empty()) {
    std::string_view r = cfg.region;
    if (r.starts_with("oss-")) {
      r.remove_prefix(4);  // "oss-cn-hangzhou" as some tools write it
    }
    return std::string(r);
  }
  std::string_view host = ep.host;
  constexpr std::string_view suffix = ".aliyuncs.com";
  if (!host.ends_with(suffix)) {
    return {};
  }
  host.remove_suffix(suffix.size());
  if (host.starts_with("oss-")) {  // oss-cn-hangzhou, oss-cn-hangzhou-internal
    host.remove_prefix(4);
    if (host.ends_with("-internal")) {
      host.remove_suffix(9);
    }
    if (host == "accelerate" || host == "accelerate-overseas") {
      return {};
    }
    return std::string(host);
  }
  if (host.ends_with(".oss")) {  // cn-hangzhou.oss (dual stack)
    host.remove_suffix(4);
    return std::string(host);
  }
  return {};
}

std::shared_ptr<oss::rate_limiter> process_rate_limiter(unsigned qps) {
  static std::mutex mu;
  static std::shared_ptr<oss::rate_limiter> limiter;
  std::lock_guard lock(mu);
  if (!limiter) {
    limiter = std::make_shared<oss::rate_limiter>(static_cast<double>(qps));
  }
  return limiter;
}

std::shared_ptr<oss::credentials_provider> make_credentials_chain(const mount_config& cfg,
                                                                  http::client* metadata_http) {
  std::vector<std::unique_ptr<oss::credentials_provider>> chain;
  if (!cfg.access_key_id.empty() || !cfg.access_key_secret.empty()) {
    chain.push_back(oss::make_static_provider(
        oss::credentials{cfg.access_key_id, cfg.access_key_secret, cfg.security_token, 0}));
  }
  std::string passwd = cfg.passwd_file;
  if (passwd.empty()) {
    const char* home = std::getenv("HOME");
    if (home && file_exists(std::string(home) + "/.passwd-ossfs")) {
      passwd = std::string(home) + "/.passwd-ossfs";
    } else if (file_exists("/etc/passwd-ossfs")) {
      passwd = "/etc/passwd-ossfs";
    }
  }
  if (!passwd.empty()) {
    chain.push_back(oss::make_passwd_file_provider(passwd, cfg.bucket));
  }
  chain.push_back(oss::make_environment_provider());
  chain.push_back(oss::make_profile_provider());
  if (!cfg.credential_process.empty()) {
    chain.push_back(oss::make_process_provider(cfg.credential_process));
  }
  if (!cfg.ram_role.empty() && metadata_http) {
    oss::http_fetcher fetch = [metadata_http](http::request req) -> task<result<http::response>> {
      http::exchange ex;
      ex.req = std::move(req);
      ex.timeout = std::chrono::seconds(5);
      co_return co_await metadata_http->send(ex);
    };
    chain.push_back(oss::make_ecs_ram_role_provider(std::move(fetch), role_name(cfg.ram_role)));
  }
  return oss::make_caching_provider(oss::make_chain_provider(std::move(chain)));
}

oss::client_config oss_config(const mount_config& cfg, const http::endpoint& ep) {
  oss::client_config c;
  c.bucket = cfg.bucket;
  c.endpoint = ep;
  c.path_style = path_style_for(cfg, ep);
  c.region = resolve_region(cfg, ep);
  c.sign_version = cfg.sign_version == "v1" ? 1 : 4;
  c.retry.max_attempts = cfg.retries == 0 ? 1 : cfg.retries;
  c.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  c.limiter = process_rate_limiter(cfg.qps_limit);
  return c;
}

task<void> oss_session::close() {
  if (credentials) {
    co_await credentials->close();  // a refresh may be using metadata_http
  }
  if (http) {
    co_await http->close();
  }
  if (metadata_http) {
    co_await metadata_http->close();
  }
}

result<std::unique_ptr<oss_session>> make_oss_session(const mount_config& cfg) {
  if (cfg.bucket.empty()) {
    return make_error(EINVAL, "no bucket given");
  }
  if (status st = check_credentials(cfg); !st.ok()) {
    return std::move(st).err();
  }
  result<http::endpoint> ep = resolve_endpoint(cfg);
  if (!ep) {
    return std::move(ep).err();
  }
  auto s = std::make_unique<oss_session>();
  try {
    set_resolve_ttl(std::chrono::milliseconds(static_cast<int64_t>(cfg.dns_ttl_s * 1000)));
    s->http = http::make_client(connect_endpoint(cfg, *ep), http_options(cfg));
    if (!cfg.ram_role.empty()) {
      http::client_options meta;
      meta.http = "1.1";
      meta.connect_timeout = std::chrono::milliseconds(2000);
      meta.first_byte_timeout = std::chrono::milliseconds(5000);
      s->metadata_http =
          http::make_client(http::endpoint{std::string(oss::ecs_metadata_host), 80, false}, meta);
    }
  } catch (const std::exception& e) {
    return make_error(EINVAL, std::string("HTTP client for ") + ep->to_string() + ": " + e.what());
  }
  s->credentials = make_credentials_chain(cfg, s->metadata_http.get());
  s->client = std::make_unique<oss::oss_client>(*s->http, s->credentials, oss_config(cfg, *ep));
  return s;
}

}  // namespace ossuring::cli
