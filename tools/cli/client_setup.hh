// From a mount_config to a ready OSS client: the credentials provider chain, the http::client
// for the endpoint and the oss_client over both. Shared by `mount` and the object commands.
#pragma once

#include <memory>
#include <string>

#include "core/result.hh"
#include "http/client.hh"
#include "http/oss/client.hh"
#include "http/oss/credentials.hh"
#include "http/oss/rate_limiter.hh"
#include "tools/cli/config.hh"

namespace ossuring::cli {

// The HTTP client settings a mount_config asks for.
http::client_options http_options(const mount_config& cfg);

// The endpoint: cfg.endpoint, else oss-<region>.aliyuncs.com. EINVAL when neither is given.
result<http::endpoint> resolve_endpoint(const mount_config& cfg);
// The bare region id: cfg.region, else taken from an oss-<region>[-internal].aliyuncs.com or
// <region>.oss.aliyuncs.com endpoint; empty when unknown (V4 then falls back to V1).
std::string resolve_region(const mount_config& cfg, const http::endpoint& ep);

// The process-wide request-rate limiter (created on first use with `qps`; 0 = unlimited).
// Every oss_client of the process shares it, whatever its reactor.
std::shared_ptr<oss::rate_limiter> process_rate_limiter(unsigned qps);

// Credentials looked up in this order, the first that yields keys winning: access key flags,
// the passwd file (--passwd_file, else ~/.passwd-ossfs or /etc/passwd-ossfs when present), the
// environment, ~/.alibabacloud/credentials, --credential_process, and the ECS RAM role
// (--ram_role: a role name, or a metadata URL ending in the role name). Cached, refreshed before
// temporary keys expire. `metadata_http` reaches 100.100.100.200 (plain HTTP); it may be null
// when no RAM role is configured.
std::shared_ptr<oss::credentials_provider> make_credentials_chain(const mount_config& cfg,
                                                                  http::client* metadata_http);

// The oss_client settings for `cfg` and `ep` (bucket, addressing, signing, retries, limiter).
oss::client_config oss_config(const mount_config& cfg, const http::endpoint& ep);

// Everything an OSS caller on one reactor needs. Build and use it on that reactor's thread;
// close `http` (and `metadata_http`) before the reactor stops.
struct oss_session {
  std::unique_ptr<http::client> http;
  std::unique_ptr<http::client> metadata_http;  // only with a RAM role
  std::shared_ptr<oss::credentials_provider> credentials;
  std::unique_ptr<oss::oss_client> client;

  task<void> close();
};

// Builds a session; errors (bad endpoint, TLS set-up) say what is wrong.
result<std::unique_ptr<oss_session>> make_oss_session(const mount_config& cfg);

}  // namespace ossuring::cli
