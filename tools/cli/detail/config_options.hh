// The mount options' table (tools/cli/config_options.cc): names, kinds, help and setters.
#pragma once

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
};

// Every option, in help order.
const std::vector<option_def>& option_table();
// The option named `name` (any of its spellings), or null.
const option_def* find_option(std::string_view name);
// Options accepted for fstab/mount(8) compatibility that have no effect here.
bool is_ignored_mount_option(std::string_view name);

}  // namespace ossuring::cli::detail
