// Mount configuration: our options and ossfs 2.0's option names, from argv, `-o a,b=c` and
// config files (`-c FILE`: one `--name=value` per line, as ossfs 2.0 reads them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"

namespace ossuring::cli {

struct mount_config {
  // What to mount.
  std::string bucket;
  std::string prefix;  // without leading '/', with a trailing '/' when not empty
  std::string mountpoint;

  // Endpoint and transport.
  std::string endpoint;             // host[:port], or a full http(s):// URL
  std::string region;               // bare id for V4 signing, e.g. cn-hangzhou
  std::string sign_version = "v4";  // v1|v4 (v4 falls back to v1 when no region is known)
  std::string http = "auto";        // auto|1.1|2
  bool path_style = false;
  std::string ca_file;
  bool insecure_skip_verify = false;
  unsigned connect_timeout_ms = 5000;
  double dns_ttl_s = 60;  // resolved addresses are reused this long (core/net.hh)
  unsigned request_timeout_ms = 30000;
  unsigned retries = 3;
  unsigned qps_limit = 8000;

  // Credentials (see docs/configuration.md for the order they are looked up in).
  std::string access_key_id;
  std::string access_key_secret;
  std::string security_token;
  std::string ram_role;
  std::string credential_process;
  std::string passwd_file;

  // Metadata.
  std::string mode;        // index|lazy; empty = index for read-only mounts
  unsigned refresh_s = 0;  // index refresh interval, 0 = never
  unsigned index_max_age_s = 3600;
  std::string shared_index;                 // --shared-index KEY or oss://BUCKET/KEY; "" = none
  unsigned shared_index_interval_s = 3600;  // one re-listing per interval for the whole group
  unsigned shared_index_wait_s = 120;       // a mount that lost the lease waits this for the image
  unsigned list_concurrency = 16;
  double attr_timeout_s = 60;
  double negative_timeout_s = 0;
  double negative_cache_timeout_s = 0;
  unsigned negative_cache_size = 10000;
  bool readdirplus = true;
  bool fuse_uring = false;  // FUSE over io_uring when the kernel offers it
  unsigned max_list_ret_count = 1000;

  // Data.
  std::string cache_dir;    // empty = blobs in memory
  uint64_t cache_size = 0;  // bytes of cache_dir to use, 0 = 10 GiB
  uint64_t memory_limit = 1ull << 30;
  uint64_t small_file_threshold = 4ull << 20;
  uint64_t multipart_threshold = 64ull << 20;  // rw: larger files upload in parts
  uint64_t part_size = 8ull << 20;
  uint64_t copy_threshold = 1ull << 30;  // rw: rename copies larger objects in parts
  bool background_upload = false;
  std::string staging_dir;  // rw: "" = CACHE_DIR/staging, else /var/tmp
  unsigned upload_concurrency = 4;
  // auto|noopen|passthrough|read; parse_mount_args resolves auto (docs/configuration.md).
  std::string open_mode = "auto";
  unsigned prefetch_concurrency = 32;
  uint64_t prefetch_chunk_size = 8ull << 20;
  bool direct = false;
  std::string prefetch = "auto";  // auto|off|siblings|dir: what opening a file prefetches
  std::string index_dir;          // where saved indexes live; empty = <cache_dir>/index, or none
  uint64_t readahead_max = 64ull << 20;  // large files: read-ahead window cap

  // Presentation and permissions.
  bool read_only = true;
  bool read_only_set = false;  // ro or rw was given (not mount(8)'s implicit rw)
  bool nonempty = false;       // mount over a non-empty folder instead of refusing
  bool allow_other = false;
  bool default_permissions = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t umask = 0022;
  bool uid_set = false;
  bool gid_set = false;

  // Operation.
  bool foreground = false;
  bool supervise = false;  // a supervisor keeps the connection across a daemon crash
  std::string cpus;        // reactor CPU list, e.g. "0-3"; empty = one reactor, unpinned
  unsigned poll_us = 0;    // with cpus: reactors spin this long before sleeping (0 = off)
  std::string log_level = "info";
  std::string log_dir;                       // "": see default_log_dir()
  uint64_t log_file_max_size = 64ull << 20;  // rotate past this (0 = never)
  unsigned log_file_max_count = 4;           // files kept, the current one included
  unsigned metrics_port = 0;
  std::string control_socket;        // default: /run/ossuring/<mountpoint hash>.sock
  std::vector<std::string> ignored;  // options accepted for compatibility but without effect
  // One-line notes the mount prints once at start: options without effect, defaults that differ
  // from ossfs 2.0's.
  std::vector<std::string> notes;
  bool ossfs_style = false;  // a config file or an ossfs 2.0 option name was used
};

// How `ossuring` was started for a mount. mount(8) (fstab, `mount -t fuse.ossuring`,
// `mount -t fuse PROG#SOURCE`) runs mount.fuse3, which runs `ossuring SOURCE MOUNTPOINT -o
// OPTIONS` and puts `rw` in OPTIONS for every mount without `ro`: in that form a bare `rw` is
// not a request to write (`writable` is).
enum class mount_form { command, helper };

// Parses `ossuring mount` arguments (after the word "mount"): positional oss://bucket[/prefix]
// and MOUNTPOINT, options in any of the accepted spellings. Errors name the offending option.
result<mount_config> parse_mount_args(const std::vector<std::string>& args,
                                      mount_form form = mount_form::command);

// Applies one `name=value` (or bare `name`) option; used for argv, -o lists and config files.
status apply_option(mount_config& cfg, std::string_view name, std::string_view value,
                    bool has_value);

// Reads a config file of `--name=value` lines (comments with '#'). Refused when writable by group
// or others or owned by neither this user nor root (it may set credential_process), and, when it
// holds a secret (access key secret or STS token), when readable by group or others.
status apply_config_file(mount_config& cfg, const std::string& path);

// Refuses credential options that would otherwise be skipped in silence: an access key id without
// its secret (or the reverse), an STS token without both, and an explicit --passwd-file that
// cannot be used (missing, not private, or without a line for cfg.bucket).
status check_credentials(const mount_config& cfg);

// Overwrites, in place, the values of secret options in argv (--access-key-secret=S,
// --access-key-secret S, -o a,access-key-secret=S,b and the STS token's spellings) with 'x', so
// that /proc/PID/cmdline stops showing them. Returns how many values were hidden.
size_t hide_secret_arguments(int argc, char** argv);

// Splits oss://bucket/prefix.
status parse_oss_url(std::string_view url, std::string* bucket, std::string* prefix);

// Parses sizes like 4096, 64k, 8MiB, 10G, 1.5g.
result<uint64_t> parse_size(std::string_view s);

// StrmVol's resourceLimit shorthand: "4c8g" = 4 reactor cores and 8 GiB of memory.
status parse_resource_limit(std::string_view s, unsigned* cores, uint64_t* memory);

// The mount options under one heading per group: names, default, ossfs 2.0 spelling, meaning
// (`ossuring help mount`; docs/configuration.md lists the same).
std::string options_help();

}  // namespace ossuring::cli
