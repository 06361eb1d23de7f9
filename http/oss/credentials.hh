// Where OSS credentials come from: static keys, environment, ~/.alibabacloud/credentials,
// ossfs passwd files, a credential_process command, the ECS RAM role metadata service; chained
// and cached with refresh before expiry. Secrets never appear in describe() output.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"
#include "core/task.hh"
#include "http/message.hh"
#include "http/oss/sign.hh"

namespace ossuring::oss {

class credentials_provider {
 public:
  virtual ~credentials_provider() = default;
  // Current credentials; `expiration` set when they are temporary (STS).
  virtual task<result<credentials>> get() = 0;
  // Where credentials come from, for logs; never contains a secret.
  virtual std::string describe() const = 0;
  // Ends background work (a refresh in flight). Call before destroying a provider that may
  // have some (make_caching_provider's).
  virtual task<void> close() { co_return; }
};

using clock_fn = std::function<int64_t()>;                  // seconds since the epoch
using getenv_fn = std::function<const char*(const char*)>;  // getenv, injectable in tests
using http_fetcher = std::function<task<result<http::response>>(http::request)>;

// "LTAI****wxyz": an access key id with its middle hidden (ids are not secret, but need not be
// printed whole either). Secrets and tokens are never printed, only whether they are set.
std::string mask_access_key_id(std::string_view id);
std::string describe(const credentials& c);

// {"AccessKeyId","AccessKeySecret","SecurityToken","Expiration"} as credential_process and the ECS
// metadata service print it. A "Code" other than "Success" is an error.
result<credentials> parse_credentials_json(std::string_view json);

std::unique_ptr<credentials_provider> make_static_provider(credentials c);

// OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN, else
// ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / ALIBABA_CLOUD_SECURITY_TOKEN. Read at each get().
std::unique_ptr<credentials_provider> make_environment_provider(getenv_fn env = nullptr);

// The Alibaba Cloud ini file. `path` empty: $ALIBABA_CLOUD_CREDENTIALS_FILE, else
// $HOME/.alibabacloud/credentials. `profile` empty: $ALIBABA_CLOUD_PROFILE, else "default".
// Profiles of type access_key (default) and sts are supported.
std::unique_ptr<credentials_provider> make_profile_provider(std::string path = {},
                                                            std::string profile = {},
                                                            getenv_fn env = nullptr);
// Parses ini text (exposed for tests and for the config loader).
result<credentials> parse_credentials_ini(std::string_view text, std::string_view profile);

// ossfs 1.x passwd file: lines `ak:sk` or `bucket:ak:sk` (a line for `bucket` wins); refused
// when group or others may read it.
std::unique_ptr<credentials_provider> make_passwd_file_provider(std::string path,
                                                                std::string bucket);
result<credentials> parse_passwd_file(std::string_view text, std::string_view bucket);

// Runs `command` (through /bin/sh -c, stdin /dev/null, stderr inherited) and parses its stdout as
// parse_credentials_json. Blocks the calling thread until the command exits (at most
// `timeout_ms`, then it is killed): temporary credentials are fetched rarely and cached.
std::unique_ptr<credentials_provider> make_process_provider(std::string command,
                                                            int timeout_ms = 30000);

// ECS RAM role via the metadata service at 100.100.100.200. `role` empty: discovered first.
// `hardened`: fetch a metadata token (PUT /latest/api/token) and send it with each request.
std::unique_ptr<credentials_provider> make_ecs_ram_role_provider(http_fetcher fetch,
                                                                 std::string role = {},
                                                                 bool hardened = true);
inline constexpr std::string_view ecs_metadata_host = "100.100.100.200";

// Tries each provider in order; the first success wins. All failing gives an error naming each.
std::unique_ptr<credentials_provider> make_chain_provider(
    std::vector<std::unique_ptr<credentials_provider>> providers);

// Caches `inner`'s credentials. Inside `refresh_margin` seconds before they expire, callers get
// the cached ones at once while one refresh runs in the background; a failed refresh is logged
// and tried again after `refresh_retry` seconds, the cached ones served until they expire.
// Without valid credentials, callers wait for one shared fetch; after a failure they get its
// error until `refresh_retry` has passed (no fetch per request).
std::unique_ptr<credentials_provider> make_caching_provider(
    std::unique_ptr<credentials_provider> inner, int64_t refresh_margin = 300,
    clock_fn now = nullptr, int64_t refresh_retry = 10);

}  // namespace ossuring::oss
