// The mount's control socket: owner-only Unix socket, line protocol, blocking client.
#include "tools/cli/control.hh"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/io.hh"
#include "core/log.hh"

namespace ossuring::cli {

namespace {

std::string run_dir() {
  if (const char* d = std::getenv("OSSURING_RUN_DIR"); d && *d) {
    return d;
  }
  return ::geteuid() == 0 ? "/run/ossuring" : "/tmp/ossuring-" + std::to_string(::geteuid());
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  return h;
}

result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) {
    return make_error(ENAMETOOLONG, "control socket path too long: " + path);
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

}  // namespace

std::string control_socket_path(const std::string& mountpoint) {
  char real[PATH_MAX];
  std::string p = ::realpath(mountpoint.c_str(), real) ? std::string(real) : mountpoint;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(fnv1a(p)));
  return run_dir() + "/" + hex + ".sock";
}

namespace {

std::string marker_path(const std::string& mountpoint) {
  std::string p = control_socket_path(mountpoint);
  return p.substr(0, p.size() - 5) + ".indexing";  // "<hash>.sock" -> "<hash>.indexing"
}

}  // namespace

indexing_marker::indexing_marker(const std::string& mountpoint) : _path(marker_path(mountpoint)) {
  ::mkdir(run_dir().c_str(), 0700);
  std::string pid = std::to_string(::getpid()) + "\n";
  int fd = ::open(_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
    _path.clear();  // umount then cannot stop the indexing; the mount itself is unaffected
  }
  if (fd >= 0) {
    ::close(fd);
  }
}

void indexing_marker::remove() {
  if (!_path.empty()) {
    ::unlink(_path.c_str());
    _path.clear();
  }
}

namespace {

// A pidfd of `pid` when it is an ossuring process, checked after the pidfd is held so that the pid
// cannot be reused meanwhile (a stale marker or socket may name a dead daemon's pid).
unique_fd ossuring_pidfd(long pid) {
  if (pid <= 0) {
    return {};
  }
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
  if (!pidfd) {
    return {};
  }
  char exe[PATH_MAX] = {};
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = ::readlink(link.c_str(), exe, sizeof exe - 1);
  if (n <= 0 ||
      std::string_view(exe, static_cast<size_t>(n)).find("ossuring") == std::string_view::npos) {
    return {};
  }
  return pidfd;
}

}  // namespace

bool stop_indexing_daemon(const std::string& mountpoint, int wait_ms) {
  const std::string path = marker_path(mountpoint);
  char buf[32] = {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  unique_fd daemon = ossuring_pidfd(n > 0 ? std::strtol(buf, nullptr, 10) : 0);
  if (!daemon) {
    ::unlink(path.c_str());
    return false;
  }
  if (::syscall(SYS_pidfd_send_signal, daemon.get(), SIGTERM, nullptr, 0) != 0) {
    return false;
  }
  return wait_for_exit(daemon, wait_ms);
}

unique_fd daemon_pidfd(const std::string& mountpoint) {
  result<sockaddr_un> addr = unix_address(control_socket_path(mountpoint));
  if (!addr.ok()) {
    return {};
  }
  // The connection is closed without a line, which the daemon ends without a word.
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    return {};
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return {};
  }
  return ossuring_pidfd(cred.pid);
}

bool wait_for_exit(const unique_fd& pidfd, int wait_ms) {
  // A pidfd polls readable once the process has exited, reaped or not.
  pollfd p{pidfd.get(), POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, wait_ms);
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

result<std::string> take_control_socket(std::vector<std::string>& args) {
  constexpr std::string_view flag = "--control-socket";
  std::string path;
  for (size_t i = 0; i < args.size();) {
    std::string_view s = args[i];
    if (s == flag) {
      if (i + 1 >= args.size() || args[i + 1].empty()) {
        return make_error(EINVAL, "--control-socket needs a path");
      }
      path = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
                 args.begin() + static_cast<std::ptrdiff_t>(i + 2));
    } else if (s.starts_with(flag) && s.size() > flag.size() && s[flag.size()] == '=') {
      path = std::string(s.substr(flag.size() + 1));
      if (path.empty()) {
        return make_error(EINVAL, "--control-socket needs a path");
      }
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return path;
}

task<bool> control_connection::send_line(std::string line) {
  line += '\n';
  size_t off = 0;
  while (off < line.size()) {
    int n = co_await send(_fd, line.data() + off, line.size() - off);
    if (n <= 0) {
      co_return false;
    }
    off += static_cast<size_t>(n);
  }
  co_return true;
}

control_server::control_server(unique_fd fd, std::string path)
    : _fd(std::move(fd)),
      _path(std::move(path)),
      _acceptor(std::make_unique<acceptor>(_fd.get())),
      _connections(std::make_unique<gate>()) {}

control_server::~control_server() {
  if (!_path.empty() && _fd) {
    ::unlink(_path.c_str());
  }
}

result<control_server> control_server::listen(const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) {
    ::mkdir(dir.c_str(), 0700);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
      return make_error(EPERM, "control folder " + dir + " must be owned by us with mode 0700");
    }
  }
  result<sockaddr_un> addr = unix_address(path);
  if (!addr.ok()) {
    return std::move(addr).err();
  }
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return make_error(errno, std::string("socket: ") + std::strerror(errno));
  }
  ::unlink(path.c_str());  // a stale socket of a dead daemon
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un));
  ::umask(old);
  if (rc != 0 || ::listen(fd.get(), 16) != 0) {
    return make_error(errno, "control socket " + path + ": " + std::strerror(errno));
  }
  return control_server(std::move(fd), path);
}

task<void> control_server::serve_one(unique_fd conn, control_handler& handler) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != ::geteuid() && cred.uid != 0)) {
    log_warn("control_refused", {{"uid", std::to_string(cred.uid)}});
    co_return;
  }
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos && line.size() < 1 << 20) {
    int n = co_await recv(conn.get(), buf, sizeof(buf), 0, {.timeout = std::chrono::seconds(10)});
    if (n <= 0) {
      co_return;
    }
    line.append(buf, static_cast<size_t>(n));
  }
  line.resize(line.find('\n') == std::string::npos ? line.size() : line.find('\n'));
  size_t sp = line.find(' ');
  std::string command = line.substr(0, sp);
  std::string args = sp == std::string::npos ? "" : line.substr(sp + 1);
  control_connection out(conn.get());
  co_await handler(std::move(command), std::move(args), out);
}

task<void> control_server::serve(control_handler handler) {
  for (;;) {
    result<unique_fd> conn = co_await _acceptor->accept();
    if (!conn.ok()) {
      if (conn.err().code == ECANCELED) {
        break;
      }
      continue;
    }
    _connections->spawn(serve_one(std::move(*conn), handler));
  }
  co_await _connections->close();
}

task<void> control_server::stop() {
  co_await _acceptor->close();
}

status control_request(const std::string& path, const std::string& line,
                       const std::function<void(const std::string&)>& on_line) {
  result<sockaddr_un> addr = unix_address(path);
  if (!addr.ok()) {
    return std::move(addr).err();
  }
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0) {
    int e = errno;
    return make_error(e, "cannot reach the daemon at " + path + ": " + std::strerror(e) +
                             " (is the mount served by ossuring?)");
  }
  std::string out = line + "\n";
  // A daemon that refuses the caller (another user) closes at once: the send may then fail
  // with EPIPE, or the read find nothing. Both mean "no answer", reported alike below.
  const bool sent =
      ::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
  bool answered = false;
  std::string pending;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0 || !sent) {
      break;
    }
    answered = true;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      on_line(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
  if (!pending.empty()) {
    on_line(pending);
  }
  if (!answered) {
    return make_error(EACCES, "the daemon at " + path +
                                  " closed the connection without answering (it answers only "
                                  "the user that mounted)");
  }
  return {};
}

}  // namespace ossuring::cli
