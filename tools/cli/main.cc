// The `ossuring` command: mount, umount, stats, warmup, refresh and object commands (ls, stat, get,
// put).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/log.hh"
#include "core/memory.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/config.hh"

namespace {

struct command {
  const char* name;
  int (*run)(const ossuring::cli::args&);
  const char* usage;
};

const command commands[] = {
    {"mount", ossuring::cli::cmd_mount, "mount oss://bucket[/prefix] MOUNTPOINT [options]"},
    {"umount", ossuring::cli::cmd_umount, "umount MOUNTPOINT [--lazy]"},
    {"stats", ossuring::cli::cmd_stats, "stats MOUNTPOINT [--json]"},
    {"warmup", ossuring::cli::cmd_warmup,
     "warmup MOUNTPOINT [PATH...] [--files LIST] [--no-progress]"},
    {"refresh", ossuring::cli::cmd_refresh,
     "refresh MOUNTPOINT (index mode: list the bucket again now)"},
    {"ls", ossuring::cli::cmd_ls, "ls oss://bucket[/prefix] [-r] [connection options]"},
    {"stat", ossuring::cli::cmd_stat, "stat oss://bucket/key [connection options]"},
    {"get", ossuring::cli::cmd_get, "get oss://bucket/key [FILE] [connection options]"},
    {"put", ossuring::cli::cmd_put, "put FILE oss://bucket/key [connection options]"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: ossuring COMMAND [ARGS]\n\ncommands:\n");
  for (const command& c : commands) {
    std::fprintf(out, "  ossuring %s\n", c.usage);
  }
  std::fprintf(out, "\noptions (mount; the connection options also apply to ls/stat/get/put):\n%s",
               ossuring::cli::options_help().c_str());
  std::fprintf(out, "\nSee docs/configuration.md for details.\n");
}

}  // namespace

int main(int argc, char** argv) {
  ossuring::tune_malloc(std::getenv("GLIBC_TUNABLES"));
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(stdout);
    return 0;
  }
  if (name == "--version" || name == "version") {
    std::printf("ossuring 0.1.0\n");
    return 0;
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
    // entry of type fuse.ossuring: the same as `ossuring mount`.
    rest.insert(rest.begin(), name);
    return ossuring::cli::cmd_mount(rest);
  }
  for (const command& c : commands) {
    if (name == c.name) {
      return c.run(rest);
    }
  }
  std::fprintf(stderr, "ossuring: unknown command '%s'\n\n", name.c_str());
  usage(stderr);
  return 2;
}
