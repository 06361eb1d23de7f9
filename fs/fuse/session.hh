// fs::fuse::session: one mount served on the home reactor, from mount(2) to the last reply.
//
// It wires the kernel side of a mount: the mount itself (or, for a worker its supervisor
// restarted, the connection the supervisor kept), the /dev/fuse channel with the adapter
// (fuse_ops) as its dispatcher, one clone channel per other reactor of a pool
// (fs/fuse/clones.hh), FUSE over io_uring entries when the kernel accepts them
// (fs/fuse/ring.hh), and the hand-off of the connection and the served index to a supervisor
// (fs/fuse/supervisor.hh). The file system, OSS client and option handling stay the caller's.
//
//   open()   mounts, or adopts a restored connection (INIT's parameters, FUSE_NOTIFY_RESEND).
//   run()    serves until the kernel ends the connection (an unmount from outside) or stop(),
//            then tears down and returns the channel's end.
//   ready()  completes once the kernel's INIT is answered and the clones, the ring and the
//            supervisor hand-off are in place; ETIMEDOUT when INIT did not come within
//            `init_timeout` (the session keeps serving), ECANCELED when the session ended first.
//   stop()   detaches the mount point and ends the channel; run() returns after the last reply.
//
// Teardown (end of run()): the channel has ended, so `ended()` fires (the caller's background
// work such as refreshes stops on it) and the file system's index hook is removed; the clones
// are stopped and awaited (their handlers relay into this reactor's adapter); the mount is
// unmounted and its descriptor closed, after the last reply written on it; the ring entries,
// which end only with the connection, drain (files still open on the detached mount keep them
// serving until closed); last the task that waited for INIT. The members are declared in the
// order that leaves each one's users destroyed before it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/abort.hh"
#include "core/event.hh"
#include "core/gate.hh"
#include "core/reactor_pool.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "fs/filesystem.hh"
#include "fs/fuse/adapter.hh"
#include "fs/fuse/channel.hh"
#include "fs/fuse/clones.hh"
#include "fs/fuse/mount.hh"
#include "fs/fuse/ring.hh"
#include "fs/fuse/supervisor.hh"

namespace ossuring::fs::fuse {

struct session_options {
  mount_options mount;  // where and how to mount (a restored session adopts its connection)
  open_mode mode = open_mode::passthrough;
  bool readdirplus = true;
  // FUSE over io_uring when the kernel offers it. With several reactors each registers the
  // queue of its own CPU and the home reactor every other one (fs/fuse/clones.hh).
  bool fuse_uring = false;
  unsigned readers = 4;                  // /dev/fuse reads in flight per channel
  unsigned uring_entries_per_queue = 8;  // requests of one CPU served at once
  unsigned home_reactor = 0;             // the pool's reactor the session runs on
  std::chrono::milliseconds init_timeout{10000};
  // The supervisor's index image names its bucket and prefix.
  std::string bucket;
  std::string prefix;
};

class session {
 public:
  // On the home reactor. `pool` (may be null: one reactor) adds a clone channel per other
  // reactor; `link` is the supervisor's (inactive without --supervise); `restore` is the
  // connection and INIT parameters a restarted worker takes over (nullptr: a fresh mount).
  static result<std::unique_ptr<session>> open(filesystem& fs, session_options opts,
                                               reactor_pool* pool, supervisor_link link,
                                               const restore_state* restore);
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  task<status> ready();
  task<status> run();
  // Idempotent; any time, from the home reactor.
  void stop();
  // Fires once the channel has ended, before the teardown.
  abort_source& ended() noexcept { return _ended; }

  fuse_ops& ops() noexcept { return _ops; }
  const fuse_session_params& params() const noexcept { return _ch.params(); }
  int fd() const noexcept { return _mount.fd(); }
  // Requests read per channel (home first), and served through ring entries.
  std::vector<fuse_channel_stats> channel_stats() const;
  uint64_t uring_requests() const noexcept {
    return (_uring ? _uring->requests() : 0) + (_clones ? _clones->uring_requests() : 0);
  }

 private:
  session(filesystem& fs, session_options opts, reactor_pool* pool, supervisor_link link,
          fuse_mount m, const restore_state* restore);
  // What INIT asks of the kernel (computed once, at construction).
  fuse_init_wishes wishes() const;
  // Takes over a dead worker's connection: INIT's parameters, and its unanswered requests.
  void resume(const restore_state& r);
  // After INIT: clones, ring, supervisor hand-off; settles ready().
  task<void> after_init();
  // The home reactor's ring entries: every CPU's queue the clones do not register.
  void start_ring();
  size_t uring_payload() const;
  void hand_off();
  // The served index to the supervisor; false (and the supervisor told not to restart this
  // mount: it would restore an index older than the kernel's inode numbers) when that failed.
  bool hand_over_index();
  void settle(status s);

  filesystem& _fs;
  const session_options _opts;
  reactor_pool* const _pool;
  supervisor_link _link;
  const fuse_init_wishes _wishes;
  fuse_mount _mount;  // its descriptor outlives every user below
  fuse_channel _ch;
  fuse_ops _ops;  // the channel's dispatcher
  // Clone channels relay to _ch's reactor and into _ops; ring entries serve through _ch.
  std::optional<fuse_clones> _clones;
  std::optional<fuse_uring> _uring;
  abort_source _ended;
  event _ready;
  status _ready_status;
  gate _tasks;  // after_init(), which uses everything above
};

}  // namespace ossuring::fs::fuse
