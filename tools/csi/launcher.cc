// Runs `ossuring mount` in a session of its own with credentials on a memfd (launcher.hh).
#include "tools/csi/launcher.hh"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>

extern char** environ;

namespace ossuring::csi {
namespace {

// The descriptor number the credentials have in the child.
constexpr int credentials_fd = 3;

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

result<int> credentials_memfd(const std::string& text) {
  int fd = ::memfd_create("ossuring-csi-credentials", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    int e = errno;
    return make_error(e, std::string("memfd_create: ") + std::strerror(e));
  }
  // `ossuring mount` refuses a config file holding a secret unless only its owner may read it.
  if (::fchmod(fd, 0600) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(e, std::string("fchmod memfd: ") + std::strerror(e));
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return make_error(e, std::string("write memfd: ") + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  // Nobody who inherits the descriptor can change what the mount reads.
  (void)::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

}  // namespace

result<launch_result> run_ossuring(const std::string& ossuring, std::vector<std::string> args,
                                   const std::string& credentials, const std::string& cgroup) {
  fd_guard creds;
  if (!credentials.empty()) {
    result<int> fd = credentials_memfd(credentials);
    if (!fd.ok()) {
      return std::move(fd).err();
    }
    creds.fd = *fd;
    args.push_back("-c");
    args.push_back("/proc/self/fd/" + std::to_string(credentials_fd));
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    return make_error(e, std::string("pipe: ") + std::strerror(e));
  }
  fd_guard read_end{out[0]};
  fd_guard write_end{out[1]};

  // posix_spawn, not fork: the plugin is multi-threaded (gRPC), and a forked child of a
  // threaded process may only make async-signal-safe calls before exec.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, write_end.fd, STDERR_FILENO);
  if (creds.fd >= 0) {
    // dup2 onto another number clears FD_CLOEXEC on the copy; the same number would not.
    if (creds.fd == credentials_fd) {
      int moved = ::fcntl(creds.fd, F_DUPFD_CLOEXEC, credentials_fd + 1);
      ::close(creds.fd);
      creds.fd = moved;
    }
    posix_spawn_file_actions_adddup2(&actions, creds.fd, credentials_fd);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // Its own session: a signal to the plugin's process group (Ctrl-C, a container runtime's
  // group kill of the plugin's children) does not reach the mount.
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  // With a cgroup to leave the container for, this executable runs first, moves itself out
  // and execs `ossuring` (cgroup_escape.hh).
  std::string program = ossuring;
  std::string enter = "--enter-cgroup=" + cgroup;
  if (!cgroup.empty()) {
    char self[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
      int e = errno;
      return make_error(e, std::string("readlink /proc/self/exe: ") + std::strerror(e));
    }
    program.assign(self, static_cast<size_t>(n));
    argv.push_back(program.data());
    argv.push_back(enter.data());
  }
  std::string argv0 = ossuring;
  std::string mount_word = "mount";
  argv.push_back(argv0.data());
  argv.push_back(mount_word.data());
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(write_end.fd);
  write_end.fd = -1;
  if (rc != 0) {
    return make_error(rc, "cannot run " + ossuring + ": " + std::strerror(rc));
  }

  launch_result r;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(read_end.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    if (r.output.size() < (64u << 10)) {
      r.output.append(buf, static_cast<size_t>(n));
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

}  // namespace ossuring::csi
