// `ossuring mount`: builds the OSS client, indexes the prefix (index mode), mounts, serves FUSE
// until unmounted or signalled, and answers `ossuring stats`/`warmup` on the control socket.
//
// Without -f the command forks: the parent returns 0 once the mount is ready (the kernel's INIT
// answered), or prints the child's error and returns 1. SIGINT/SIGTERM unmount cleanly (lazily
// when files are still open); an unmount from outside ends the daemon.
//
// With --cpus (or resourceLimit) the daemon runs one reactor per listed CPU (mount_daemon.hh).
//
// With --supervise the daemon runs as the worker of a supervisor that restarts it on the same
// FUSE connection when it dies (fs/fuse/supervisor.hh).
//
// This file handles the options, the checks before anything slow, the log's place and the fork;
// the daemon is tools/cli/mount_daemon.cc, the kernel side of the mount fs::fuse::session
// (fs/fuse/session.hh).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/log.hh"
#include "core/reactor_pool.hh"
#include "fs/fuse/mount.hh"
#include "fs/fuse/supervisor.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/log_setup.hh"
#include "tools/cli/mount_daemon.hh"
#include "tools/cli/mount_setup.hh"
#include "tools/cli/mountinfo.hh"

namespace ossuring::cli {

// The mount in either form (cmd_mount, cmd_mount_helper).
static int mount_command(const args& a, mount_form form);

int cmd_mount(const args& a) {
  return mount_command(a, mount_form::command);
}

int cmd_mount_helper(const args& a) {
  return mount_command(a, mount_form::helper);
}

static int mount_command(const args& a, mount_form form) {
  result<mount_config> parsed = parse_mount_args(a, form);
  if (!parsed.ok()) {
    std::fprintf(stderr, "ossuring mount: %s\n", parsed.err().message.c_str());
    return 2;
  }
  mount_config cfg = std::move(*parsed);
  log_level level;
  if (!parse_log_level(cfg.log_level, &level)) {
    std::fprintf(stderr, "ossuring mount: bad --log-level '%s'\n", cfg.log_level.c_str());
    return 2;
  }
  set_log_level(level);
  std::vector<int> cpus;  // empty: one unpinned reactor
  if (!cfg.cpus.empty()) {
    result<std::vector<int>> c = reactor_cpus(cfg.cpus);
    if (!c.ok()) {
      std::fprintf(stderr, "ossuring mount: --cpus: %s\n", c.err().message.c_str());
      return 2;
    }
    cpus = std::move(*c);
  }
  if (cfg.supervise && cpus.size() > 1) {
    std::fprintf(stderr, "ossuring mount: --supervise serves one reactor (--cpus lists %zu)\n",
                 cpus.size());
    return 2;
  }
  std::string mountpoint_warning;
  if (status st = check_mountpoint(cfg.mountpoint, cfg.nonempty, &mountpoint_warning); !st) {
    std::fprintf(stderr, "ossuring mount: %s\n", st.err().message.c_str());
    return 1;
  }
  if (!mountpoint_warning.empty()) {
    cfg.notes.push_back(mountpoint_warning);
  }
  // Before the bucket is listed (minutes for a large one): a mount that cannot happen says so now.
  fs::mount_options access_check;
  access_check.mountpoint = cfg.mountpoint;
  access_check.allow_other = cfg.allow_other;
  if (status st = fs::check_fuse_access(access_check); !st) {
    std::fprintf(stderr, "ossuring mount: %s\n", st.err().message.c_str());
    return 1;
  }
  for (const std::string& note : cfg.notes) {  // once, before the daemon starts
    std::fprintf(stderr, "ossuring mount: note: %s\n", note.c_str());
  }
  // Where the log goes. A backgrounded daemon never keeps the caller's terminal or pipe (the
  // caller may wait for its end: `mount ... 2>&1 | tail`): it logs to --log-dir, else to a
  // default folder, unless its stderr is systemd's journal. In the foreground, stderr.
  std::string log_path;
  const bool journal = stderr_is_journal();
  std::string log_dir = cfg.log_dir;
  if (log_dir.empty() && !cfg.foreground && !journal) {
    log_dir = default_log_dir(::geteuid() == 0, std::getenv("XDG_STATE_HOME"), std::getenv("HOME"));
    if (status st = make_dirs(log_dir); !st) {
      std::fprintf(stderr,
                   "ossuring mount: note: the daemon's log is discarded: %s (give --log-dir)\n",
                   st.err().message.c_str());
      log_dir.clear();
    }
  } else if (!log_dir.empty()) {
    if (status st = make_dirs(log_dir); !st) {
      std::fprintf(stderr, "ossuring mount: --log-dir: %s\n", st.err().message.c_str());
      return 1;
    }
  }
  if (!log_dir.empty()) {
    log_path = log_dir + "/" + log_file_name(absolute_path(cfg.mountpoint));
    if (!set_log_file(log_path, cfg.log_file_max_size, cfg.log_file_max_count)) {
      std::fprintf(stderr, "ossuring mount: cannot write %s: %s\n", log_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
  } else if (!cfg.foreground && !journal) {
    (void)set_log_file("/dev/null");
  }

  int pipefd[2] = {-1, -1};
  if (!cfg.foreground) {
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      std::perror("ossuring mount: pipe");
      return 1;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("ossuring mount: fork");
      return 1;
    }
    if (pid > 0) {
      ::close(pipefd[1]);
      std::string answer;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0) {
        answer.append(buf, static_cast<size_t>(n));
      }
      if (answer.rfind("ok", 0) == 0) {
        return 0;
      }
      if (answer.rfind("error ", 0) == 0) {
        std::fprintf(stderr, "ossuring mount: %s", answer.substr(6).c_str());
      } else {
        std::fprintf(stderr, "ossuring mount: the daemon exited before the mount was ready\n");
      }
      if (!log_path.empty()) {
        std::fprintf(stderr, "ossuring mount: the daemon's log: %s\n", log_path.c_str());
      }
      return 1;
    }
    ::close(pipefd[0]);
    ::setsid();
    // Off the caller's terminal and pipes: stdin and stdout from/to /dev/null, stderr to the
    // log file (what a library prints lands there), or /dev/null; the journal stays.
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      if (!journal) {
        int lfd = log_fd();
        ::dup2(lfd != STDERR_FILENO ? lfd : devnull, STDERR_FILENO);
      }
      ::close(devnull);
    }
  }

  if (cfg.supervise) {
    // The restarted workers have no one waiting: the supervisor closed the pipe after the first.
    return fs::fuse::supervise(cfg.mountpoint, pipefd[1],
                               [&](int link, const fs::fuse::restore_state* restore) {
                                 return run_daemon(cfg, cpus, restore ? -1 : pipefd[1],
                                                   fs::fuse::supervisor_link(link), restore);
                               });
  }
  return run_daemon(cfg, cpus, pipefd[1], fs::fuse::supervisor_link(), nullptr);
}

}  // namespace ossuring::cli
