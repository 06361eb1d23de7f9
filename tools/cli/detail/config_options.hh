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

struct option_def {
  std::vector<std::string_view> names;  // first is ours; the rest are ossfs/mount spellings
  kind type;
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

}  // namespace ossuring::cli::detail
