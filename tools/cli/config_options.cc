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
// ossfs 2.0 options with nothing to set here: accepted, and the mount warns once that they have
// no effect and why.
#define NO_EFFECT(name, why)                                                       \
  [](mount_config& c, const std::string&, uint64_t, double, bool) {                \
    c.notes.push_back(std::string("option '") + name + "' has no effect: " + why); \
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
       group::connection,
       "(required, or from --region)",
       "OSS endpoint: host[:port] or http(s)://host[:port]",
       STR(endpoint)},
      {{"bucket", "oss_bucket"},
       kind::str,
       group::connection,
       "from oss://BUCKET",
       "bucket (instead of oss://bucket/...)",
       STR(bucket)},
      {{"prefix", "oss_bucket_prefix"},
       kind::str,
       group::connection,
       "from oss://BUCKET/PREFIX",
       "key prefix to mount",
       STR(prefix)},
      {{"region", "oss_region"},
       kind::str,
       group::connection,
       "from the endpoint",
       "region id for V4 signing, e.g. cn-hangzhou",
       STR(region)},
      {{"sign-version", "signature_version"},
       kind::str,
       group::connection,
       "v4",
       "v1 or v4",
       STR(sign_version)},
      {{"http"},
       kind::str,
       group::connection,
       "auto",
       "auto|1.1|2: auto = ALPN over TLS, HTTP/1.1 in clear text",
       STR(http)},
      {{"path-style", "use_path_request_style"},
       kind::flag,
       group::connection,
       "off (on for an IP address)",
       "path-style addressing",
       FLAG(path_style)},
      {{"ca-file"},
       kind::str,
       group::connection,
       "system bundle",
       "CA bundle to verify the server",
       STR(ca_file)},
      {{"insecure-skip-verify"},
       kind::flag,
       group::connection,
       "off",
       "do not verify the TLS certificate (testing only)",
       FLAG(insecure_skip_verify)},
      {{"connect-timeout"},
       kind::uint,
       group::connection,
       "5000",
       "connect timeout, ms",
       UINT(connect_timeout_ms),
       1,
       FIELD_MAX(connect_timeout_ms)},
      {{"dns-ttl"},
       kind::seconds,
       group::connection,
       "60",
       "reuse a resolved endpoint address this long (60 s; 0 = resolve at every connect)",
       SECS(dns_ttl_s),
       0,
       max_seconds},
      {{"request-timeout"},
       kind::uint,
       group::connection,
       "30000",
       "per-request timeout, ms",
       UINT(request_timeout_ms),
       1,
       FIELD_MAX(request_timeout_ms)},
      {{"retries"},
       kind::uint,
       group::connection,
       "3",
       "attempts for idempotent requests",
       UINT(retries),
       0,
       FIELD_MAX(retries)},
      {{"qps-limit"},
       kind::uint,
       group::connection,
       "8000",
       "request-rate limit for the whole mount (8000/s)",
       UINT(qps_limit),
       0,
       FIELD_MAX(qps_limit)},
      {{"access-key-id", "oss_access_key_id"},
       kind::str,
       group::credentials,
       "",
       "AccessKeyId",
       STR(access_key_id)},
      {{"access-key-secret", "oss_access_key_secret"},
       kind::str,
       group::credentials,
       "",
       "AccessKeySecret",
       STR(access_key_secret)},
      {{"sts-token", "oss_session_token", "security_token"},
       kind::str,
       group::credentials,
       "",
       "STS security token",
       STR(security_token)},
      {{"ram-role", "ram_role"},
       kind::str,
       group::credentials,
       "",
       "ECS RAM role name or metadata URL",
       STR(ram_role)},
      {{"credential-process", "credential_process"},
       kind::str,
       group::credentials,
       "",
       "command printing credentials JSON",
       STR(credential_process)},
      {{"passwd-file", "passwd_file"},
       kind::str,
       group::credentials,
       "~/.passwd-ossfs, /etc/passwd-ossfs",
       "ossfs-style ak:sk file (mode 600)",
       STR(passwd_file)},
      {{"mode"},
       kind::str,
       group::metadata,
       "index (lazy with writes)",
       "index|lazy metadata",
       STR(mode)},
      {{"refresh"},
       kind::seconds,
       group::metadata,
       "0",
       "re-list the index every N seconds (0 = never)",
       WHOLE_SECS(refresh_s),
       0,
       FIELD_MAX(refresh_s)},
      {{"index-max-age"},
       kind::seconds,
       group::metadata,
       "3600",
       "reuse a saved index younger than this (3600 s)",
       WHOLE_SECS(index_max_age_s),
       0,
       FIELD_MAX(index_max_age_s)},
      {{"shared-index"},
       kind::str,
       group::metadata,
       "none",
       "start from the index image at this key (or oss://BUCKET/KEY), publish it if absent",
       STR(shared_index)},
      {{"shared-index-interval"},
       kind::seconds,
       group::metadata,
       "3600",
       "one mount of the group re-lists and republishes the image this often",
       WHOLE_SECS(shared_index_interval_s),
       1,
       max_seconds},
      {{"shared-index-wait"},
       kind::seconds,
       group::metadata,
       "120",
       "wait this long for another mount's first image before listing",
       WHOLE_SECS(shared_index_wait_s),
       0,
       max_seconds},
      {{"index-dir"},
       kind::str,
       group::metadata,
       "CACHE_DIR/index, else none",
       "save/reuse indexes here",
       STR(index_dir)},
      {{"list-concurrency"},
       kind::uint,
       group::metadata,
       "16",
       "listings in flight while indexing",
       UINT(list_concurrency),
       1,
       FIELD_MAX(list_concurrency)},
      {{"attr-timeout", "attr_timeout"},
       kind::seconds,
       group::metadata,
       "60",
       "lazy mode attribute cache TTL (60 s)",
       SECS(attr_timeout_s),
       0,
       max_seconds},
      {{"negative-timeout", "negative_timeout"},
       kind::seconds,
       group::metadata,
       "0",
       "kernel negative entry TTL (0 s)",
       SECS(negative_timeout_s),
       0,
       max_seconds},
      {{"negative-cache-timeout", "oss_negative_cache_timeout"},
       kind::seconds,
       group::metadata,
       "0",
       "lazy mode negative cache TTL (0 = off)",
       SECS(negative_cache_timeout_s),
       0,
       max_seconds},
      {{"negative-cache-size", "oss_negative_cache_size"},
       kind::uint,
       group::metadata,
       "10000",
       "lazy mode negative cache entries",
       UINT(negative_cache_size),
       0,
       FIELD_MAX(negative_cache_size)},
      {{"readdirplus"},
       kind::flag,
       group::metadata,
       "true",
       "answer READDIRPLUS",
       FLAG(readdirplus)},
      {{"fuse-uring", "fuse_uring"},
       kind::flag,
       group::fuse,
       "false",
       "FUSE over io_uring when the kernel offers it",
       FLAG(fuse_uring)},
      {{"max-list-ret-count", "max_list_ret_count"},
       kind::uint,
       group::metadata,
       "1000",
       "keys per LIST page, 1-1000",
       UINT(max_list_ret_count),
       1,
       1000},
      {{"cache-dir"}, kind::str, group::data, "memory", "blob cache folder", STR(cache_dir)},
      {{"cache-size"},
       kind::size,
       group::data,
       "10G",
       "bytes of cache-dir to use",
       UINT(cache_size),
       0,
       u64_max},
      {{"memory-limit", "total_mem_limit"},
       kind::size,
       group::data,
       "1G",
       "memory budget for blobs/buffers, at least 1M",
       UINT(memory_limit),
       1ull << 20,
       u64_max},
      {{"small-file-threshold"},
       kind::size,
       group::data,
       "4M",
       "objects up to this are fetched whole",
       UINT(small_file_threshold),
       0,
       u64_max},
      {{"multipart-threshold"},
       kind::size,
       group::writes,
       "64M",
       "rw: files larger than this upload as multipart",
       UINT(multipart_threshold),
       0,
       u64_max},
      {{"part-size", "upload_buffer_size"},
       kind::size,
       group::writes,
       "8M",
       "rw: multipart part size",
       UINT(part_size),
       0,
       u64_max},
      {{"copy-threshold"},
       kind::size,
       group::writes,
       "1G",
       "rw: rename copies larger objects with UploadPartCopy (1G, OSS's CopyObject limit)",
       UINT(copy_threshold),
       0,
       u64_max},
      {{"upload-concurrency", "upload_concurrency"},
       kind::uint,
       group::writes,
       "4",
       "rw: multipart parts in flight per file, 1-64",
       UINT(upload_concurrency),
       1,
       64},
      {{"staging-dir"},
       kind::str,
       group::writes,
       "CACHE_DIR/staging, else /var/tmp",
       "rw: folder for files being written",
       STR(staging_dir)},
      {{"background-upload"},
       kind::flag,
       group::writes,
       "off",
       "rw: close returns before the upload (fsync waits)",
       FLAG(background_upload)},
      {{"open-mode"},
       kind::str,
       group::data,
       "auto",
       "auto|noopen|passthrough|read: how opens are served (auto: passthrough with --cache-dir "
       "as root, else noopen)",
       STR(open_mode)},
      {{"prefetch-concurrency", "prefetch_concurrency"},
       kind::uint,
       group::data,
       "32",
       "prefetch GETs in flight",
       UINT(prefetch_concurrency),
       1,
       FIELD_MAX(prefetch_concurrency)},
      {{"prefetch-chunk-size", "prefetch_chunk_size"},
       kind::size,
       group::data,
       "8M",
       "ranged GET size",
       UINT(prefetch_chunk_size),
       1,
       u64_max},
      {{"prefetch"},
       kind::str,
       group::data,
       "auto",
       "auto|off|siblings|dir: what opening a file prefetches",
       STR(prefetch)},
      {{"readahead-max"},
       kind::size,
       group::data,
       "64M",
       "large files: read-ahead window cap",
       UINT(readahead_max),
       1,
       u64_max},
      {{"direct", "directMode"},
       kind::flag,
       group::data,
       "off",
       "no cache, no prefetch: ranged GETs per read",
       FLAG(direct)},
      {{"ro", "read-only"},
       kind::flag,
       group::writes,
       "on",
       "read-only mount; ro=false (ossfs 2.0) asks for writes like --rw",
       [](mount_config& c, const std::string&, uint64_t, double, bool b) {
         c.read_only = b;
         c.read_only_set = true;
       }},
      {{"rw", "writable"},
       kind::flag,
       group::writes,
       "off",
       "writable mount (lazy mode). mount(8) and mount.fuse3 add rw to every mount: in fstab and "
       "`mount -t fuse.ossuring` say writable",
       [](mount_config& c, const std::string&, uint64_t, double, bool b) {
         c.read_only = !b;
         c.read_only_set = true;
       }},
      {{"allow-other", "allow_other"},
       kind::flag,
       group::fuse,
       "off",
       "let other users use the mount",
       FLAG(allow_other)},
      {{"default-permissions", "default_permissions"},
       kind::flag,
       group::fuse,
       "off",
       "kernel checks permissions against mode/uid/gid",
       FLAG(default_permissions)},
      {{"uid"},
       kind::uint,
       group::fuse,
       "the mounting user",
       "owner of every file",
       [](mount_config& c, const std::string&, uint64_t v, double, bool) {
         c.uid = static_cast<uint32_t>(v);
         c.uid_set = true;
       },
       0,
       max_id},
      {{"gid"},
       kind::uint,
       group::fuse,
       "the mounting user",
       "group of every file",
       [](mount_config& c, const std::string&, uint64_t v, double, bool) {
         c.gid = static_cast<uint32_t>(v);
         c.gid_set = true;
       },
       0,
       max_id},
      {{"umask"}, kind::octal, group::fuse, "022", "permission bits removed", UINT(umask), 0, 0777},
      {{"foreground", "f"},
       kind::flag,
       group::fuse,
       "off",
       "stay in the foreground",
       FLAG(foreground)},
      {{"supervise"},
       kind::flag,
       group::fuse,
       "off",
       "restart a crashed daemon on the same FUSE connection: readers pause, never fail (index "
       "mode, read-only, noopen, one CPU)",
       FLAG(supervise)},
      {{"cpus"},
       kind::str,
       group::fuse,
       "one unpinned reactor",
       "reactor CPU list, e.g. 0-3",
       STR(cpus)},
      {{"poll-us"},
       kind::uint,
       group::fuse,
       "0 (off)",
       "with --cpus: spin this many microseconds for work before sleeping (dedicated CPUs only)",
       UINT(poll_us),
       0,
       1'000'000},
      {{"log-level", "log_level"},
       kind::str,
       group::logging,
       "info",
       "trace|debug|info|warn|error",
       STR(log_level)},
      {{"log-dir", "log_dir"},
       kind::str,
       group::logging,
       "foreground: stderr; else /var/log/ossuring (root) or $XDG_STATE_HOME/ossuring",
       "write logs to DIR/ossuring-MOUNT.log (MOUNT: the mount point, / as -)",
       STR(log_dir)},
      {{"metrics-port", "metrics_port"},
       kind::uint,
       group::logging,
       "0 (off)",
       "Prometheus endpoint on 127.0.0.1:PORT",
       UINT(metrics_port),
       0,
       65535},
      {{"d"},
       kind::flag,
       group::logging,
       "off",
       "ossfs 2.0's debug run: --foreground with --log-level debug",
       [](mount_config& c, const std::string&, uint64_t, double, bool b) {
         if (b) {
           c.foreground = true;
           c.log_level = "debug";
         }
       }},
      {{"log-file-max-size", "log_file_max_size"},
       kind::size,
       group::logging,
       "64M",
       "rotate the log file once it holds this many bytes (0 = never)",
       UINT(log_file_max_size),
       0,
       u64_max},
      {{"log-file-max-count", "log_file_max_count"},
       kind::uint,
       group::logging,
       "4",
       "log files kept in all, the current one included (1-1000)",
       UINT(log_file_max_count),
       1,
       1000},
      {{"close_to_open"},
       kind::flag,
       group::metadata,
       "",
       "ossfs 2.0's revalidate-at-open: no effect (index: --refresh; lazy: --attr-timeout)",
       NO_EFFECT("close_to_open",
                 "opens are not revalidated against OSS; index mode serves the listing taken at "
                 "mount (--refresh re-lists), lazy mode trusts attributes --attr-timeout seconds")},
      {{"nonempty"},
       kind::flag,
       group::fuse,
       "off",
       "mount over a non-empty folder (hiding its files) instead of refusing",
       FLAG(nonempty)},
      {{"resource-limit", "resourceLimit"},
       kind::str,
       group::data,
       "",
       "StrmVol's shorthand: 4c8g = --cpus 0-3 and --memory-limit 8G",
       // Parsed before the table is consulted (config.cc): never called.
       [](mount_config&, const std::string&, uint64_t, double, bool) {}},
      {{"control-socket"},
       kind::str,
       group::fuse,
       "/run/ossuring/HASH.sock",
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

std::string_view group_title(group g) {
  switch (g) {
    case group::connection:
      return "Connection";
    case group::credentials:
      return "Credentials";
    case group::metadata:
      return "Metadata";
    case group::data:
      return "Data path";
    case group::writes:
      return "Writes";
    case group::fuse:
      return "FUSE and daemon";
    case group::logging:
      return "Logging and monitoring";
  }
  return "";
}

const std::vector<std::string_view>& ossfs2_option_names() {
  // help.aliyun.com "ossfs 2.0 mount options" (v2.0.0-2.0.5), and its config file examples.
  static const std::vector<std::string_view> names = {"oss_endpoint",
                                                      "oss_bucket",
                                                      "oss_bucket_prefix",
                                                      "oss_region",
                                                      "oss_access_key_id",
                                                      "oss_access_key_secret",
                                                      "ram_role",
                                                      "credential_process",
                                                      "attr_timeout",
                                                      "negative_timeout",
                                                      "readdirplus",
                                                      "oss_negative_cache_timeout",
                                                      "oss_negative_cache_size",
                                                      "close_to_open",
                                                      "max_list_ret_count",
                                                      "prefetch_concurrency",
                                                      "prefetch_chunk_size",
                                                      "total_mem_limit",
                                                      "upload_buffer_size",
                                                      "upload_concurrency",
                                                      "ro",
                                                      "allow_other",
                                                      "uid",
                                                      "gid",
                                                      "umask",
                                                      "log_dir",
                                                      "log_level",
                                                      "log_file_max_size",
                                                      "log_file_max_count",
                                                      "metrics_port",
                                                      "f",
                                                      "d"};
  return names;
}

bool is_ossfs2_name(std::string_view name) {
  for (std::string_view n : ossfs2_option_names()) {
    if (n == name) {
      return true;
    }
  }
  return false;
}

}  // namespace ossuring::cli::detail
