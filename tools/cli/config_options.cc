// The mount options' table: every option's names (ours, then ossfs 2.0 and mount(8)
// spellings), kind, help text and setter.
#include "tools/cli/detail/config_options.hh"

#include <cmath>
#include <limits>

namespace ossuring::cli::detail {

// Each setter receives the raw string, the parsed integer, the parsed double and the flag value.
#define STR(field) \
  [](mount_config& c, const std::string& s, uint64_t, double, bool) { c.field = s; }
#define FLAG(field) \
  [](mount_config& c, const std::string&, uint64_t, double, bool b) { c.field = b; }
#define UINT(field)                                                   \
  [](mount_config& c, const std::string&, uint64_t v, double, bool) { \
    c.field = static_cast<decltype(c.field)>(v);                      \
  }
#define SECS(field) \
  [](mount_config& c, const std::string&, uint64_t, double d, bool) { c.field = d; }
// Rounded up: a fraction of a second must not become 0, which means "never" or "off".
#define WHOLE_SECS(field)                                             \
  [](mount_config& c, const std::string&, uint64_t, double d, bool) { \
    c.field = static_cast<decltype(c.field)>(std::ceil(d));           \
  }
// The largest value `field` holds: the default upper bound of a numeric option.
#define FIELD_MAX(field) std::numeric_limits<decltype(mount_config::field)>::max()

namespace {
constexpr uint64_t u64_max = std::numeric_limits<uint64_t>::max();
// Seconds become nanosecond durations, which overflow past ~292 years: 2^32 - 1 s (136 years)
// is more than any cache lifetime needs and converts safely.
constexpr uint64_t max_seconds = std::numeric_limits<uint32_t>::max();
// (uid_t)-1 is no user: chown(2) reads it as "leave unchanged".
constexpr uint64_t max_id = std::numeric_limits<uint32_t>::max() - 1;
}  // namespace

const std::vector<option_def>& option_table() {
  static const std::vector<option_def> t = {
      {{"endpoint", "oss_endpoint", "url"},
       kind::str,
       "OSS endpoint: host[:port] or http(s)://host[:port]",
       STR(endpoint)},
      {{"bucket", "oss_bucket"}, kind::str, "bucket (instead of oss://bucket/...)", STR(bucket)},
      {{"prefix", "oss_bucket_prefix"}, kind::str, "key prefix to mount", STR(prefix)},
      {{"region", "oss_region"},
       kind::str,
       "region id for V4 signing, e.g. cn-hangzhou",
       STR(region)},
      {{"sign-version", "signature_version"},
       kind::str,
       "v1 or v4 (default v4)",
       STR(sign_version)},
      {{"http"}, kind::str, "auto|1.1|2: auto = ALPN over TLS, HTTP/1.1 in clear text", STR(http)},
      {{"path-style", "use_path_request_style"},
       kind::flag,
       "path-style addressing",
       FLAG(path_style)},
      {{"ca-file"},
       kind::str,
       "CA bundle to verify the server (default: system bundle)",
       STR(ca_file)},
      {{"insecure-skip-verify"},
       kind::flag,
       "do not verify the TLS certificate (testing only)",
       FLAG(insecure_skip_verify)},
      {{"connect-timeout"},
       kind::uint,
       "connect timeout, ms (5000)",
       UINT(connect_timeout_ms),
       1,
       FIELD_MAX(connect_timeout_ms)},
      {{"dns-ttl"},
       kind::seconds,
       "reuse a resolved endpoint address this long (60 s; 0 = resolve at every connect)",
       SECS(dns_ttl_s),
       0,
       max_seconds},
      {{"request-timeout"},
       kind::uint,
       "per-request timeout, ms (30000)",
       UINT(request_timeout_ms),
       1,
       FIELD_MAX(request_timeout_ms)},
      {{"retries"},
       kind::uint,
       "attempts for idempotent requests (3)",
       UINT(retries),
       0,
       FIELD_MAX(retries)},
      {{"qps-limit"},
       kind::uint,
       "request-rate limit for the whole mount (8000/s)",
       UINT(qps_limit),
       0,
       FIELD_MAX(qps_limit)},
      {{"access-key-id", "oss_access_key_id"}, kind::str, "AccessKeyId", STR(access_key_id)},
      {{"access-key-secret", "oss_access_key_secret"},
       kind::str,
       "AccessKeySecret",
       STR(access_key_secret)},
      {{"sts-token", "oss_session_token", "security_token"},
       kind::str,
       "STS security token",
       STR(security_token)},
      {{"ram-role", "ram_role"}, kind::str, "ECS RAM role name or metadata URL", STR(ram_role)},
      {{"credential-process", "credential_process"},
       kind::str,
       "command printing credentials JSON",
       STR(credential_process)},
      {{"passwd-file", "passwd_file"},
       kind::str,
       "ossfs-style ak:sk file (mode 600)",
       STR(passwd_file)},
      {{"mode"}, kind::str, "index|lazy metadata (default index for read-only mounts)", STR(mode)},
      {{"refresh"},
       kind::seconds,
       "re-list the index every N seconds (0 = never)",
       WHOLE_SECS(refresh_s),
       0,
       FIELD_MAX(refresh_s)},
      {{"index-max-age"},
       kind::seconds,
       "reuse a saved index younger than this (3600 s)",
       WHOLE_SECS(index_max_age_s),
       0,
       FIELD_MAX(index_max_age_s)},
      {{"index-dir"},
       kind::str,
       "save/reuse indexes here (default: <cache-dir>/index, else none)",
       STR(index_dir)},
      {{"list-concurrency"},
       kind::uint,
       "listings in flight while indexing (16)",
       UINT(list_concurrency),
       1,
       FIELD_MAX(list_concurrency)},
      {{"attr-timeout", "attr_timeout"},
       kind::seconds,
       "lazy mode attribute cache TTL (60 s)",
       SECS(attr_timeout_s),
       0,
       max_seconds},
      {{"negative-timeout", "negative_timeout"},
       kind::seconds,
       "kernel negative entry TTL (0 s)",
       SECS(negative_timeout_s),
       0,
       max_seconds},
      {{"negative-cache-timeout", "oss_negative_cache_timeout"},
       kind::seconds,
       "lazy mode negative cache TTL (0 = off)",
       SECS(negative_cache_timeout_s),
       0,
       max_seconds},
      {{"negative-cache-size", "oss_negative_cache_size"},
       kind::uint,
       "lazy mode negative cache entries (10000)",
       UINT(negative_cache_size),
       0,
       FIELD_MAX(negative_cache_size)},
      {{"readdirplus"}, kind::flag, "answer READDIRPLUS (true)", FLAG(readdirplus)},
      {{"fuse-uring", "fuse_uring"},
       kind::flag,
       "FUSE over io_uring when the kernel offers it (false)",
       FLAG(fuse_uring)},
      {{"max-list-ret-count", "max_list_ret_count"},
       kind::uint,
       "keys per LIST page, 1-1000 (1000)",
       UINT(max_list_ret_count),
       1,
       1000},
      {{"cache-dir"}, kind::str, "blob cache folder (default: memory)", STR(cache_dir)},
      {{"cache-size"}, kind::size, "bytes of cache-dir to use (10G)", UINT(cache_size), 0, u64_max},
      {{"memory-limit", "total_mem_limit"},
       kind::size,
       "memory budget for blobs/buffers, at least 1M (1G)",
       UINT(memory_limit),
       1ull << 20,
       u64_max},
      {{"small-file-threshold"},
       kind::size,
       "objects up to this are fetched whole (4M)",
       UINT(small_file_threshold),
       0,
       u64_max},
      {{"multipart-threshold"},
       kind::size,
       "rw: files larger than this upload as multipart (64M)",
       UINT(multipart_threshold),
       0,
       u64_max},
      {{"part-size"}, kind::size, "rw: multipart part size (8M)", UINT(part_size), 0, u64_max},
      {{"copy-threshold"},
       kind::size,
       "rw: rename copies larger objects with UploadPartCopy (1G, OSS's CopyObject limit)",
       UINT(copy_threshold),
       0,
       u64_max},
      {{"upload-concurrency"},
       kind::uint,
       "rw: multipart parts in flight per file, 1-64 (4)",
       UINT(upload_concurrency),
       1,
       64},
      {{"staging-dir"},
       kind::str,
       "rw: folder for files being written (CACHE_DIR/staging, else /var/tmp)",
       STR(staging_dir)},
      {{"background-upload"},
       kind::flag,
       "rw: close returns before the upload (fsync waits)",
       FLAG(background_upload)},
      {{"open-mode"},
       kind::str,
       "noopen|passthrough|read: how opens are served (noopen)",
       STR(open_mode)},
      {{"prefetch-concurrency", "prefetch_concurrency"},
       kind::uint,
       "prefetch GETs in flight",
       UINT(prefetch_concurrency),
       1,
       FIELD_MAX(prefetch_concurrency)},
      {{"prefetch-chunk-size", "prefetch_chunk_size"},
       kind::size,
       "ranged GET size (8M)",
       UINT(prefetch_chunk_size),
       1,
       u64_max},
      {{"prefetch"},
       kind::str,
       "off|siblings|dir: what opening a file prefetches (off)",
       STR(prefetch)},
      {{"readahead-max"},
       kind::size,
       "large files: read-ahead window cap (64M)",
       UINT(readahead_max),
       1,
       u64_max},
      {{"direct", "directMode"},
       kind::flag,
       "no cache, no prefetch: ranged GETs per read",
       FLAG(direct)},
      {{"ro", "read-only"},
       kind::flag,
       "read-only mount (the default; -o rw for writes, lazy mode)",
       FLAG(read_only)},
      {{"allow-other", "allow_other"},
       kind::flag,
       "let other users use the mount",
       FLAG(allow_other)},
      {{"default-permissions", "default_permissions"},
       kind::flag,
       "kernel checks permissions against mode/uid/gid",
       FLAG(default_permissions)},
      {{"uid"},
       kind::uint,
       "owner of every file",
       [](mount_config& c, const std::string&, uint64_t v, double, bool) {
         c.uid = static_cast<uint32_t>(v);
         c.uid_set = true;
       },
       0,
       max_id},
      {{"gid"},
       kind::uint,
       "group of every file",
       [](mount_config& c, const std::string&, uint64_t v, double, bool) {
         c.gid = static_cast<uint32_t>(v);
         c.gid_set = true;
       },
       0,
       max_id},
      {{"umask"}, kind::octal, "permission bits removed (022)", UINT(umask), 0, 0777},
      {{"foreground", "f"}, kind::flag, "stay in the foreground", FLAG(foreground)},
      {{"supervise"},
       kind::flag,
       "restart a crashed daemon on the same FUSE connection: readers pause, never fail (index "
       "mode, read-only, noopen, one CPU)",
       FLAG(supervise)},
      {{"cpus"},
       kind::str,
       "reactor CPU list, e.g. 0-3 (default: one unpinned reactor)",
       STR(cpus)},
      {{"log-level", "log_level"}, kind::str, "trace|debug|info|warn|error", STR(log_level)},
      {{"log-dir", "log_dir"}, kind::str, "write logs to DIR/ossuring.log", STR(log_dir)},
      {{"metrics-port", "metrics_port"},
       kind::uint,
       "Prometheus endpoint on 127.0.0.1:PORT",
       UINT(metrics_port),
       0,
       65535},
      {{"control-socket"},
       kind::str,
       "control socket path for `ossuring stats`",
       STR(control_socket)},
  };
  return t;
}

const option_def* find_option(std::string_view name) {
  for (const option_def& d : option_table()) {
    for (std::string_view n : d.names) {
      if (n == name) {
        return &d;
      }
    }
  }
  return nullptr;
}

bool is_secret_option(std::string_view name) {
  const option_def* d = find_option(name);
  return d && (d == find_option("access-key-secret") || d == find_option("sts-token"));
}

bool takes_value(std::string_view name) {
  if (name == "resource-limit" || name == "resourceLimit") {
    return true;
  }
  const option_def* d = find_option(name);
  return d && d->type != kind::flag;
}

bool is_ignored_mount_option(std::string_view name) {
  static const std::string_view names[] = {"auto",    "noauto", "user",    "nouser", "exec",
                                           "noexec",  "suid",   "nosuid",  "dev",    "nodev",
                                           "_netdev", "nofail", "defaults"};
  for (std::string_view n : names) {
    if (n == name) {
      return true;
    }
  }
  return false;
}

}  // namespace ossuring::cli::detail
