// TCP on the reactor: listening sockets with multishot accept, connect with name resolution done
// off the reactor thread (and cached), and an owning file-descriptor handle.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/io.hh"
#include "core/result.hh"
#include "core/task.hh"

namespace ossuring {

// Owns a file descriptor; closes it synchronously when destroyed (close(2) of a socket does not
// block). Use `co_await close(fd.release())` to close through the ring instead.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : _fd(fd) {}
  unique_fd(unique_fd&& o) noexcept : _fd(std::exchange(o._fd, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset(std::exchange(o._fd, -1));
    }
    return *this;
  }
  ~unique_fd() { reset(); }
  int get() const noexcept { return _fd; }
  explicit operator bool() const noexcept { return _fd >= 0; }
  int release() noexcept { return std::exchange(_fd, -1); }
  void reset(int fd = -1) noexcept {
    if (_fd >= 0) {
      ::close(_fd);
    }
    _fd = fd;
  }

 private:
  int _fd = -1;
};

struct socket_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string to_string() const;  // "127.0.0.1:8080" or "[::1]:8080"
};

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces) into host and port.
result<std::pair<std::string, uint16_t>> split_host_port(std::string_view s);

// Numeric addresses only (no DNS): for listening and for literal endpoints.
result<socket_address> parse_numeric_address(const std::string& host, uint16_t port);

// Resolves `host` on a resolver thread (getaddrinfo may block for seconds) into at most 8
// addresses in getaddrinfo's order, cached per reactor thread for the resolver TTL. Literal
// addresses are answered inline. A name that does not resolve is EHOSTUNREACH with
// "cannot resolve HOST: REASON".
task<result<std::vector<socket_address>>> resolve_all(std::string host, uint16_t port);
// The first address of resolve_all().
task<result<socket_address>> resolve(std::string host, uint16_t port);
// How long resolved names are reused (default 60 s; 0 = ask the resolver at every connect).
// Process-wide; set at start-up.
void set_resolve_ttl(std::chrono::milliseconds ttl);
// Drops the calling thread's cached answer for `host` (tcp_connect does so when every address
// failed, so a moved name is looked up again at the next connect).
void forget_resolved(std::string_view host);

// A non-blocking, close-on-exec TCP listening socket (SO_REUSEADDR; SO_REUSEPORT when asked).
result<unique_fd> tcp_listen(const socket_address& addr, int backlog = 1024,
                             bool reuse_port = false);
socket_address local_address(int fd);

// Connects to host:port with TCP_NODELAY set, trying each resolved address in turn;
// `opts.timeout` bounds each connect.
task<result<unique_fd>> tcp_connect(std::string host, uint16_t port, op_options opts = {});

// Accepts connections with one multishot IORING_OP_ACCEPT where the kernel has it (re-armed when
// the kernel ends it), else one accept per call. Invariant: while armed, the acceptor is the
// CQE's completion, so `close()` must be awaited before destruction.
class acceptor final : public completion {
 public:
  explicit acceptor(int listen_fd) : _listen_fd(listen_fd) {}
  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;
  ~acceptor();

  // Next accepted connection; -ECANCELED after close().
  task<result<unique_fd>> accept();
  // Cancels the multishot accept and waits for its final CQE.
  task<void> close();

  void complete(int res, uint32_t flags) noexcept override;

 private:
  void arm();
  void wake();

  int _listen_fd;
  bool _armed = false;
  bool _multishot = true;
  bool _closing = false;
  std::deque<int> _ready;  // accepted fds not yet handed out, or negative errors
  std::coroutine_handle<> _waiter;
  std::coroutine_handle<> _close_waiter;
};

}  // namespace ossuring
