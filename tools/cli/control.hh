// The mount's control socket: `ossuring stats` and `ossuring warmup` talk to a running daemon.
//
// Protocol: the client sends one line (a command and its arguments, JSON after the first space
// when there are any); the daemon answers with lines (one JSON document, or progress lines then
// a final line) and closes. The socket lives in a 0700 folder and answers only the daemon's
// own user (SO_PEERCRED) and root.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/net.hh"
#include "core/result.hh"
#include "core/task.hh"

namespace ossuring::cli {

// Where the daemon serving `mountpoint` listens: /run/ossuring/<hash of realpath>.sock (or
// $OSSURING_RUN_DIR instead of /run/ossuring).
std::string control_socket_path(const std::string& mountpoint);

// A daemon still building its index has no mount yet for `ossuring umount` to find: while it
// indexes, it keeps a file next to its control socket holding its pid. `stop_indexing_daemon`
// (umount) sends it SIGTERM, which ends the listing within a second.
class indexing_marker {
 public:
  explicit indexing_marker(const std::string& mountpoint);
  indexing_marker(const indexing_marker&) = delete;
  indexing_marker& operator=(const indexing_marker&) = delete;
  ~indexing_marker() { remove(); }
  void remove();

 private:
  std::string _path;
};
// True when a daemon indexing for `mountpoint` was found, signalled and has exited (within
// `wait_ms`); false when there is none.
bool stop_indexing_daemon(const std::string& mountpoint, int wait_ms = 3000);

// The daemon serving `mountpoint` as a pidfd (empty when none is found): the process listening on
// the mount's default control socket, named by SO_PEERCRED, and only when it is an ossuring
// process. Taken before an unmount, it lets the caller wait for the daemon's exit after it.
unique_fd daemon_pidfd(const std::string& mountpoint);
// Waits up to `wait_ms` for the process behind `pidfd` to exit; true when it has.
bool wait_for_exit(const unique_fd& pidfd, int wait_ms);

// Takes `--control-socket PATH` (or `=PATH`) out of a command's arguments: the socket of a mount
// started with that option, which the default path does not find. "" when not given; an error
// when the value is missing.
result<std::string> take_control_socket(std::vector<std::string>& args);

class control_connection {
 public:
  explicit control_connection(int fd) : _fd(fd) {}
  // Writes one line (a newline is appended); false when the client went away.
  task<bool> send_line(std::string line);

 private:
  int _fd;
};

using control_handler =
    std::function<task<void>(std::string command, std::string args, control_connection& out)>;

class control_server {
 public:
  // Creates the socket (replacing a stale one) with owner-only permissions.
  static result<control_server> listen(const std::string& path);
  control_server(control_server&&) = default;
  ~control_server();

  // Serves until stop(); each connection is handled by `handler` in the server's own gate.
  task<void> serve(control_handler handler);
  task<void> stop();
  const std::string& path() const { return _path; }

 private:
  control_server(unique_fd fd, std::string path);
  task<void> serve_one(unique_fd conn, control_handler& handler);

  unique_fd _fd;
  std::string _path;
  std::unique_ptr<acceptor> _acceptor;
  std::unique_ptr<gate> _connections;
};

// Client side (blocking; for the CLI): sends `line` and calls `on_line` for each answer line.
status control_request(const std::string& path, const std::string& line,
                       const std::function<void(const std::string&)>& on_line);

}  // namespace ossuring::cli
