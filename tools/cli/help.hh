// `ossuring help [COMMAND]`, `ossuring COMMAND --help`: usage of each command, and the mount
// options grouped as docs/configuration.md lists them, generated from the option table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ossuring::cli {

// The commands `ossuring` knows, in help order.
const std::vector<std::string_view>& command_names();

// The whole help of `command` (usage, what it does, its options), or "" for an unknown command.
std::string command_help(std::string_view command);

// `ossuring --help`: the commands, one line each, and where to find more.
std::string main_help();

// The manual page ossuring(1) in roff: the commands and every mount option by group, from the
// same texts and option table (`ossuring help --man`; meson builds and installs it).
std::string man_page();

// The mount options of the groups listed (all when empty), under one heading per group, each
// with its default and its ossfs 2.0 spelling.
std::string options_help_grouped(bool connection_only);

}  // namespace ossuring::cli
