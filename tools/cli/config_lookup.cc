// Lookups over the mount options' table (config_options.cc): an option by name, which ones
// are secret or take a value, group titles, and the ossfs 2.0 option names we accept.
#include "tools/cli/detail/config_options.hh"

namespace ossuring::cli::detail {

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
