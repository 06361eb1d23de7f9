// The `ossuring` command: mount, umount, stats, warmup, refresh and object commands (ls, stat, get,
// put), and the help of each (`ossuring help CMD`, `ossuring CMD --help`).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/log.hh"
#include "core/memory.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/config.hh"
#include "tools/cli/help.hh"

namespace {

struct command {
  const char* name;
  int (*run)(const ossuring::cli::args&);
};

const command commands[] = {
    {"mount", ossuring::cli::cmd_mount},     {"umount", ossuring::cli::cmd_umount},
    {"stats", ossuring::cli::cmd_stats},     {"warmup", ossuring::cli::cmd_warmup},
    {"refresh", ossuring::cli::cmd_refresh}, {"ls", ossuring::cli::cmd_ls},
    {"stat", ossuring::cli::cmd_stat},       {"get", ossuring::cli::cmd_get},
    {"put", ossuring::cli::cmd_put},
};

// `ossuring help [CMD]`: to stdout, exit 0; an unknown CMD is a usage error.
int help(const char* cmd) {
  if (cmd == nullptr) {
    std::fputs(ossuring::cli::main_help().c_str(), stdout);
    return 0;
  }
  std::string text = ossuring::cli::command_help(cmd);
  if (text.empty()) {
    std::fprintf(stderr, "ossuring help: unknown command '%s'\n\n%s", cmd,
                 ossuring::cli::main_help().c_str());
    return 2;
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

bool asks_for_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  ossuring::tune_malloc(std::getenv("GLIBC_TUNABLES"));
  if (argc < 2) {
    std::fputs(ossuring::cli::main_help().c_str(), stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "help" && argc > 2 && std::strcmp(argv[2], "--man") == 0) {
    std::fputs(ossuring::cli::man_page().c_str(), stdout);  // the build makes ossuring.1 so
    return 0;
  }
  if (name == "-h" || name == "--help" || name == "help") {
    return help(name == "help" && argc > 2 ? argv[2] : nullptr);
  }
  if (name == "--version" || name == "version") {
    std::printf("ossuring 0.1.0\n");
    return 0;
  }
  if (asks_for_help(argc, argv)) {
    return help(name.rfind("oss://", 0) == 0 ? "mount" : name.c_str());
  }
  ossuring::cli::args rest(argv + 2, argv + argc);
  // Copied above: from here on other users reading /proc/PID/cmdline see only x's.
  if (ossuring::cli::hide_secret_arguments(argc, argv) > 0) {
    ossuring::log_warn("secret_on_command_line",
                       {{"hint",
                         "other users could read it until now; pass secrets in a config file "
                         "(-c FILE, mode 600) or the environment (OSS_ACCESS_KEY_SECRET, "
                         "OSS_SESSION_TOKEN)"}});
  }
  if (name.rfind("oss://", 0) == 0) {
    // mount(8) through mount.fuse3 runs `ossuring SOURCE MOUNTPOINT -o OPTIONS` for an fstab
    // entry of type fuse.ossuring (and `mount -t fuse PROG#SOURCE`): a mount in which the `rw`
    // that mount(8) adds to every mount is no request to write.
    rest.insert(rest.begin(), name);
    return ossuring::cli::cmd_mount_helper(rest);
  }
  for (const command& c : commands) {
    if (name == c.name) {
      return c.run(rest);
    }
  }
  std::fprintf(stderr, "ossuring: unknown command '%s'\n\n%s", name.c_str(),
               ossuring::cli::main_help().c_str());
  return 2;
}
