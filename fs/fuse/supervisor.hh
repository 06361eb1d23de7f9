// Supervised mounts (--supervise): a small parent process keeps the /dev/fuse connection open
// across a crash of the daemon serving it, and starts a new daemon on the same connection.
//
// The worker (the process that serves) hands the supervisor, over a SOCK_SEQPACKET pair, the
// connection's fd with what INIT settled, and the image of the index it serves each time that
// changes. While the supervisor holds the fd, the kernel keeps the mount alive when the worker
// dies: requests wait in its queue, and those the worker had read but not answered stay in its
// processing list. A restarted worker adopts the INIT parameters (the kernel sends INIT only
// once), installs the same index at the same inode base (the kernel's inode numbers keep
// naming the same objects), and sends FUSE_NOTIFY_RESEND, which queues the unanswered requests
// again. Readers see a pause, never ENOTCONN. Index mode, read-only, noopen, one reactor only
// (docs/semantics.md "Crashes").
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "core/result.hh"
#include "fs/fuse/channel.hh"

namespace ossuring::fs::fuse {

// What a restarted worker takes over from the one that died.
struct restore_state {
  int fuse_fd = -1;  // the connection (the supervisor keeps its own copy)
  fuse_session_params params;
  int index_fd = -1;  // the serialized index the dead worker served last, or -1
  uint64_t index_base = 0;
  bool index_provisional = false;  // reused from disk and not yet confirmed by a refresh
  unsigned restarts = 0;           // workers that died before this one
};

// The worker's end of the link to its supervisor; inactive (fd -1) for unsupervised mounts.
class supervisor_link {
 public:
  explicit supervisor_link(int fd = -1) : _fd(fd) {}
  bool active() const { return _fd >= 0; }
  // After INIT: the connection and its parameters. From then on a crash is restarted.
  status send_connection(int fuse_fd, const fuse_session_params& p);
  // Once the mount serves, and whenever the served index changes: its image and inode base.
  status send_index(std::span<const std::byte> image, uint64_t base, bool provisional);
  // The supervisor must not restart this mount (an index it holds would be out of date).
  void give_up(const std::string& why);

 private:
  int _fd;
};

// Restarts given up after this many within restart_window: a worker that keeps dying (a bad
// index, a bug hit by every request) ends the mount instead of looping.
inline constexpr unsigned max_restarts = 5;
inline constexpr int restart_window_s = 60;

// Runs in the supervising process (single-threaded: it forks). `worker` runs in each forked
// worker with its link fd and, for a restart, the state to take over (nullptr the first time);
// its return value is the worker's exit code. SIGINT/SIGTERM are forwarded to the worker.
// `ready_fd` (the waiting parent's pipe, or -1) is closed here once the first worker has it.
// Returns the mount's exit code: the worker's when it ended cleanly or before the mount was
// made, 1 when restarts were given up (the mount is then detached).
int supervise(const std::string& mountpoint, int ready_fd,
              const std::function<int(int link, const restore_state* restore)>& worker);

}  // namespace ossuring::fs::fuse
