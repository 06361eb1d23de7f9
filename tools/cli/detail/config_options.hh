// The mount options' table (tools/cli/config_options.cc): names, kinds, help and setters.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/cli/config.hh"

namespace ossuring::cli::detail {

enum class kind { str, flag, uint, size, seconds, octal };

// Where an option is listed in `ossuring help mount` and docs/configuration.md, in this order.
enum class group { connection, credentials, metadata, data, writes, fuse, logging };
// The heading of a group ("Connection", "Data path", ...).
std::string_view group_title(group g);

struct option_def {
  std::vector<std::string_view> names;  // first is ours; the rest are ossfs/mount spellings
  kind type;
  group section;
  std::string_view def;  // the default, as help shows it; empty: none
  std::string_view help;
  std::function<void(mount_config&, const std::string&, uint64_t, double, bool)> set;
  // Numeric kinds: values outside [min, max] are refused (seconds: compared as seconds). max is
  // what the destination field holds, so nothing is narrowed; every numeric option sets it.
  uint64_t min = 0;
  uint64_t max = 0;
};

// Every option, in help order.
const std::vector<option_def>& option_table();
// The option named `name` (any of its spellings), or null.
const option_def* find_option(std::string_view name);
// Whether `name` (any spelling) carries a secret: the access key secret or the STS token.
bool is_secret_option(std::string_view name);
// Whether `name` (any spelling) takes a value, so `--name VALUE` consumes the next argument.
bool takes_value(std::string_view name);
// Options accepted for fstab/mount(8) compatibility that have no effect here.
bool is_ignored_mount_option(std::string_view name);
// ossfs 2.0's documented option names (its "mount options" page), every one of which is either
// a spelling of one of ours or accepted with a warning that it has no effect.
const std::vector<std::string_view>& ossfs2_option_names();
// Whether `name` is one of ossfs2_option_names().
bool is_ossfs2_name(std::string_view name);

}  // namespace ossuring::cli::detail
