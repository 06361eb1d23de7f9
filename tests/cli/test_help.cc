// Help of every command, generated from the option table, and kept in step with
// docs/configuration.md and with ossfs 2.0's documented option names.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/cli/config_helpers.hh"
#include "tools/cli/config.hh"
#include "tools/cli/detail/config_options.hh"
#include "tools/cli/help.hh"

using namespace ossuring::cli;

namespace {

std::string configuration_md() {
  std::ifstream in(std::string(OSSURING_SOURCE_DIR) + "/docs/configuration.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool documented(const std::string& doc, std::string_view name) {
  const std::string n(name);
  return doc.find("`" + n + "`") != std::string::npos ||
         doc.find("`-" + n + "`") != std::string::npos ||
         doc.find("`--" + n + "`") != std::string::npos;
}

}  // namespace

TEST_CASE("every command has a help text naming its usage") {
  for (std::string_view cmd : {"mount", "umount", "stats", "warmup", "refresh", "ls", "stat", "get",
                               "put", "help", "version"}) {
    std::string h = command_help(cmd);
    CAPTURE(cmd);
    REQUIRE_FALSE(h.empty());
    CHECK(h.find("usage: ossuring ") != std::string::npos);
  }
  CHECK(command_help("no-such").empty());
  // No pointer to a file an installed binary does not ship.
  CHECK(main_help().find("docs/") == std::string::npos);
  CHECK(command_help("mount").find("docs/") == std::string::npos);
}

TEST_CASE("mount help groups every option with its default and ossfs 2.0 spelling") {
  std::string h = command_help("mount");
  for (const char* heading :
       {"\nConnection:\n", "\nCredentials:\n", "\nMetadata:\n", "\nData path:\n", "\nWrites:\n",
        "\nFUSE and daemon:\n", "\nLogging and monitoring:\n"}) {
    CHECK(h.find(heading) != std::string::npos);
  }
  for (const auto& d : detail::option_table()) {
    std::string flag = (d.names[0].size() == 1 ? "-" : "--") + std::string(d.names[0]);
    CAPTURE(flag);
    CHECK(h.find("  " + flag) != std::string::npos);
    if (!d.def.empty()) {
      CHECK(h.find("default: " + std::string(d.def)) != std::string::npos);
    }
  }
  CHECK(h.find("ossfs 2.0: total_mem_limit") != std::string::npos);
  CHECK(h.find("ossfs 2.0: upload_buffer_size") != std::string::npos);
  CHECK(h.find("-c, --config FILE") != std::string::npos);
  CHECK(h.find("-o LIST") != std::string::npos);
  CHECK(h.find("writable") != std::string::npos);
  // The object commands list the connection and credential options only.
  std::string ls = command_help("ls");
  CHECK(ls.find("--endpoint") != std::string::npos);
  CHECK(ls.find("--access-key-id") != std::string::npos);
  CHECK(ls.find("--open-mode") == std::string::npos);
}

TEST_CASE("the manual page lists every command and every option, in roff that is safe") {
  const std::string man = man_page();
  CHECK(man.starts_with(".TH OSSURING 1 "));
  for (std::string_view c : command_names()) {
    CHECK_MESSAGE(man.find(".B " + std::string(c) + "\n") != std::string::npos, c);
  }
  for (const auto& d : detail::option_table()) {
    std::string name(d.names[0]);
    std::string escaped;
    for (char ch : name) {
      escaped += ch == '-' ? std::string("\\-") : std::string(1, ch);
    }
    std::string flag = (name.size() == 1 ? "\\-" : "\\-\\-") + escaped;
    CHECK_MESSAGE(man.find(".B " + flag) != std::string::npos, name);
  }
  // Every line is a request we wrote or text that cannot be read as one.
  std::istringstream lines(man);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(".")) {
      CHECK_MESSAGE(std::regex_match(line, std::regex(R"(\.(TH|SH|SS|TP|B|nf|fi)( .*)?)")), line);
    }
    CHECK(line.find('\'') != 0);
  }
}

TEST_CASE("docs/configuration.md and the option table list the same options") {
  const std::string doc = configuration_md();
  for (const auto& d : detail::option_table()) {
    for (std::string_view n : d.names) {
      CAPTURE(n);
      CHECK(documented(doc, n));
    }
  }
  // Each name in the first column of the docs' option tables is one the table knows.
  std::istringstream lines(doc);
  bool in_options = false;
  size_t checked = 0;
  const std::regex code("`([^`]+)`");
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| option |", 0) == 0) {
      in_options = true;
      continue;
    }
    if (line.rfind("|", 0) != 0) {
      in_options = false;
      continue;
    }
    if (!in_options || line.rfind("|---", 0) == 0) {
      continue;
    }
    std::string first = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(first.begin(), first.end(), code), end; it != end; ++it) {
      std::string n = (*it)[1];
      if (n.rfind("-o ", 0) == 0) {
        n = n.substr(3);
      }
      n = n.substr(n.find_first_not_of('-'));
      n = n.substr(0, n.find_first_of("= "));
      CAPTURE(line);
      CHECK(detail::find_option(n) != nullptr);
      ++checked;
    }
  }
  CHECK(checked > 60);
}

TEST_CASE("every ossfs 2.0 option is accepted: mapped to ours, or warned about") {
  for (std::string_view n : detail::ossfs2_option_names()) {
    CAPTURE(n);
    const detail::option_def* d = detail::find_option(n);
    REQUIRE(d != nullptr);
    std::string value = d->type == detail::kind::flag ? "true"
                        : d->type == detail::kind::str
                            ? "x"
                            : (d->type == detail::kind::size ? "8M" : "1");
    if (n == "oss_endpoint" || n == "log_level") {
      value = n == "log_level" ? "info" : "h:1";
    }
    std::vector<std::string> args = {"oss://b", "/m", "--endpoint=e",
                                     "--" + std::string(n) + "=" + value};
    if (n == "oss_access_key_id" || n == "oss_access_key_secret") {
      args.push_back("--oss_access_key_id=AK");
      args.push_back("--oss_access_key_secret=SK");
    }
    auto r = parse_mount_args(args);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  }
}
