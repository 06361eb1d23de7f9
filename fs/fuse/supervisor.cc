// The supervisor of a --supervise mount and the worker's end of its link (fs/fuse/supervisor.hh).
#include "fs/fuse/supervisor.hh"

#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>

#include "core/log.hh"
#include "core/net.hh"
#include "fs/fuse/mount.hh"

namespace ossuring::fs::fuse {

namespace {

// Messages: one type byte and a fixed payload, each with one fd (SCM_RIGHTS).
constexpr char msg_connection = 'C';  // payload: fuse_session_params; fd: /dev/fuse
constexpr char msg_index = 'I';       // payload: base (u64), provisional (u8); fd: memfd
constexpr char msg_give_up = 'G';     // no payload, no fd: drop the connection, never restart

struct index_message {
  uint64_t base = 0;
  uint8_t provisional = 0;
};

// A message of one buffer with room for one fd (SCM_RIGHTS).
struct fd_message {
  explicit fd_message(iovec& iov) {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof(ctrl);
  }
  fd_message(const fd_message&) = delete;
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
};

// `fd` -1: a message without one.
status send_with_fd(int sock, char type, const void* payload, size_t size, int fd) {
  char buf[1 + sizeof(fuse_session_params)];
  buf[0] = type;
  if (size > 0) {
    std::memcpy(buf + 1, payload, size);
  }
  iovec iov{buf, 1 + size};
  fd_message m(iov);
  msghdr& msg = m.msg;
  if (fd >= 0) {
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  } else {
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return make_error(errno, std::string("supervisor link: ") + std::strerror(errno));
  }
  return {};
}

// What the supervisor holds for the next worker.
struct held {
  unique_fd fuse;
  fuse_session_params params;
  unique_fd index;
  index_message index_info;
  // Drops everything: the worker said not to restart it, or a handoff arrived broken. A
  // crash then ends the mount, as without a supervisor, rather than restoring a stale index.
  void give_up() {
    fuse.reset();
    index.reset();
  }
};

// Takes one message into `h`; false once the worker's end is closed (it exited).
bool receive(int sock, held& h) {
  char buf[1 + sizeof(fuse_session_params)];
  iovec iov{buf, sizeof(buf)};
  fd_message m(iov);
  msghdr& msg = m.msg;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    return false;
  }
  unique_fd fd;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int raw = -1;
      std::memcpy(&raw, CMSG_DATA(c), sizeof(int));
      fd = unique_fd(raw);
    }
  }
  const bool complete = (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) == 0 && fd.get() >= 0;
  if (buf[0] == msg_connection && complete &&
      n == 1 + static_cast<ssize_t>(sizeof(fuse_session_params))) {
    std::memcpy(&h.params, buf + 1, sizeof(h.params));
    h.fuse = std::move(fd);
  } else if (buf[0] == msg_index && complete &&
             n == 1 + static_cast<ssize_t>(sizeof(index_message))) {
    std::memcpy(&h.index_info, buf + 1, sizeof(index_message));
    h.index = std::move(fd);
  } else {
    log_warn(
        "supervisor_gives_up_restarts",
        {{"reason", buf[0] == msg_give_up ? "asked by the daemon" : "a broken handoff message"}});
    h.give_up();
  }
  return true;
}

volatile sig_atomic_t g_worker = 0;
volatile sig_atomic_t g_stop = 0;  // a stop signal came: never start another worker

void forward_signal(int sig) {
  const int saved = errno;
  g_stop = 1;
  pid_t p = g_worker;
  if (p > 0) {
    ::kill(p, sig);
  }
  errno = saved;
}

std::string describe_end(int status) {
  if (WIFSIGNALED(status)) {
    return std::string("signal ") + ::strsignal(WTERMSIG(status));
  }
  return "exit code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

status supervisor_link::send_connection(int fuse_fd, const fuse_session_params& p) {
  return send_with_fd(_fd, msg_connection, &p, sizeof(p), fuse_fd);
}

void supervisor_link::give_up(const std::string& why) {
  log_warn("supervise_given_up", {{"reason", why}});
  (void)send_with_fd(_fd, msg_give_up, nullptr, 0, -1);
}

status supervisor_link::send_index(std::span<const std::byte> image, uint64_t base,
                                   bool provisional) {
  unique_fd mem(::memfd_create("ossuring-index", MFD_CLOEXEC));
  if (mem.get() < 0) {
    return make_error(errno, std::string("memfd_create: ") + std::strerror(errno));
  }
  size_t done = 0;
  while (done < image.size()) {
    ssize_t n = ::write(mem.get(), image.data() + done, image.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return make_error(errno, std::string("index image: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  index_message m{base, static_cast<uint8_t>(provisional ? 1 : 0)};
  return send_with_fd(_fd, msg_index, &m, sizeof(m), mem.get());
}

int supervise(const std::string& mountpoint, int ready_fd,
              const std::function<int(int link, const restore_state* restore)>& worker) {
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  held h;
  std::deque<std::chrono::steady_clock::time_point> recent;
  unsigned restarts = 0;
  for (;;) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      log_error("supervisor_failed", {{"error", std::strerror(errno)}});
      if (h.fuse.get() >= 0) {
        (void)unmount_path(mountpoint, true);  // no worker to serve it: not a hung mount
      }
      return 1;
    }
    restore_state rs;
    const bool restarting = h.fuse.get() >= 0;
    if (restarting) {
      rs.fuse_fd = h.fuse.get();
      rs.params = h.params;
      rs.index_fd = h.index.get();
      rs.index_base = h.index_info.base;
      rs.index_provisional = h.index_info.provisional != 0;
      rs.restarts = restarts;
    }
    // Blocked across the fork: a stop signal that arrives before g_worker names the new worker
    // waits and is forwarded to it, and one meant for the worker waits for its signalfd.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigset_t previous;
    ::sigprocmask(SIG_BLOCK, &stop_signals, &previous);
    pid_t pid = ::fork();
    if (pid < 0) {
      log_error("supervisor_failed", {{"error", std::strerror(errno)}});
      ::sigprocmask(SIG_SETMASK, &previous, nullptr);
      if (restarting) {
        (void)unmount_path(mountpoint, true);
      }
      return 1;
    }
    if (pid == 0) {
      ::close(sv[0]);
      // The worker takes SIGINT/SIGTERM through its own signalfd (they stay blocked).
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGINT, SIG_DFL);
      ::_exit(worker(sv[1], restarting ? &rs : nullptr));
    }
    ::close(sv[1]);
    g_worker = pid;
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (ready_fd >= 0) {
      ::close(ready_fd);  // the waiting parent now hears from the worker alone
      ready_fd = -1;
    }
    while (receive(sv[0], h)) {
    }
    ::close(sv[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    g_worker = 0;
    if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) || h.fuse.get() < 0) {
      // Unmounted or stopped; or it died before the mount was served (or said not to
      // restart it): nothing to keep alive.
      return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    if (g_stop) {
      // Told to stop while the worker died: end the mount instead of restarting it.
      log_warn("supervisor_stopped",
               {{"mountpoint", mountpoint}, {"worker_end", describe_end(status)}});
      (void)unmount_path(mountpoint, true);
      return 0;
    }
    const auto now = std::chrono::steady_clock::now();
    while (!recent.empty() && now - recent.front() > std::chrono::seconds(restart_window_s)) {
      recent.pop_front();
    }
    if (recent.size() >= max_restarts) {
      log_error("supervisor_gave_up", {{"mountpoint", mountpoint},
                                       {"worker_end", describe_end(status)},
                                       {"restarts", std::to_string(restarts)}});
      // Readers get ENOTCONN from here on, not a hang; `ossuring mount` works again at once.
      (void)unmount_path(mountpoint, true);
      return 1;
    }
    recent.push_back(now);
    ++restarts;
    log_warn("worker_restarting", {{"mountpoint", mountpoint},
                                   {"worker_end", describe_end(status)},
                                   {"restarts", std::to_string(restarts)}});
  }
}

}  // namespace ossuring::fs::fuse
