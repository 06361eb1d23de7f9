// `ossuring umount MOUNTPOINT [--lazy] [--wait SECONDS]`: unmounts an ossuring mount (also after
// a daemon crash) and waits for its daemon to finish what it still has to write.
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "fs/fuse/mount.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"

namespace ossuring::cli {

namespace {

// The daemon serving `mountpoint` as a pidfd (-1 when none is found): the process listening on
// the mount's control socket, named by SO_PEERCRED, and only when it is an ossuring process.
int daemon_pidfd(const std::string& mountpoint) {
  const std::string path = control_socket_path(mountpoint);
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return -1;
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
    return -1;
  }
  // Closed without a line: the daemon ends the connection without a word.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, cred.pid, 0));
  if (pidfd < 0) {
    return -1;
  }
  // Checked after the pidfd is held: the pid cannot be reused while we look.
  char exe[PATH_MAX] = {};
  const std::string link = "/proc/" + std::to_string(cred.pid) + "/exe";
  const ssize_t n = ::readlink(link.c_str(), exe, sizeof exe - 1);
  if (n <= 0 ||
      std::string_view(exe, static_cast<size_t>(n)).find("ossuring") == std::string_view::npos) {
    ::close(pidfd);
    return -1;
  }
  return pidfd;
}

}  // namespace

int cmd_umount(const args& a) {
  std::string mountpoint;
  bool lazy = false;
  long wait_s = 60;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    if (s == "--lazy" || s == "-l" || s == "-z") {
      lazy = true;
    } else if (s == "--wait" || s.rfind("--wait=", 0) == 0) {
      std::string v = s == "--wait" ? (i + 1 < a.size() ? a[++i] : "") : s.substr(7);
      char* end = nullptr;
      errno = 0;
      wait_s = v.empty() || v[0] < '0' || v[0] > '9' ? -1 : std::strtol(v.c_str(), &end, 10);
      if (wait_s < 0 || errno != 0 || *end != '\0' || wait_s > 86400) {
        std::fprintf(stderr, "ossuring umount: --wait takes whole seconds, 0 to 86400: '%s'\n",
                     v.c_str());
        return 2;
      }
    } else if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "ossuring umount: unknown option %s\n", s.c_str());
      return 2;
    } else {
      mountpoint = s;
    }
  }
  if (mountpoint.empty()) {
    std::fprintf(stderr, "usage: ossuring umount MOUNTPOINT [--lazy] [--wait SECONDS]\n");
    return 2;
  }
  if (!fs::is_ossuring_mount(mountpoint)) {
    if (stop_indexing_daemon(mountpoint)) {
      std::fprintf(stderr,
                   "ossuring umount: stopped the daemon for %s, which was still listing "
                   "the bucket (nothing was mounted yet)\n",
                   mountpoint.c_str());
      return 0;
    }
    std::fprintf(stderr, "ossuring umount: %s is not an ossuring mount\n", mountpoint.c_str());
    return 1;
  }
  // A lazy unmount leaves open files served: the daemon ends only when they close.
  unique_fd daemon(lazy || wait_s == 0 ? -1 : daemon_pidfd(mountpoint));
  status s = fs::unmount_path(mountpoint, lazy);
  if (!s.ok()) {
    std::fprintf(stderr, "ossuring umount: %s%s\n", s.err().message.c_str(),
                 s.err().code == EBUSY ? " (files open? try --lazy)" : "");
    return 1;
  }
  if (daemon) {
    // The daemon exits once its uploads and the saved index are written: returning only then
    // means a script that unmounts finds its files in the bucket.
    pollfd p{daemon.get(), POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, static_cast<int>(wait_s * 1000));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      std::fprintf(stderr,
                   "ossuring umount: unmounted %s; its daemon is still finishing after %ld s "
                   "(uploads in flight?) and goes on in the background\n",
                   mountpoint.c_str(), wait_s);
    }
  }
  return 0;
}

}  // namespace ossuring::cli
