// fuse_clones: one FUSE channel per reactor of a pool, on /dev/fuse fds cloned from the session's
// (FUSE_DEV_IOC_CLONE), all feeding the one file system of the home reactor.
//
// Threading model (docs/architecture.md): the home reactor owns the file system, the session fd
// and its channel, which answered INIT. Every other reactor reads requests on its own clone of the
// session; the kernel hands each request to whichever channel reads first. A clone's handler
// sends the request to the home reactor, which runs the ordinary handler (fuse_ops) against a
// recording channel, and writes the recorded reply on the fd the request came from, as the
// kernel requires. So the file system stays single-owner with no lock, and the clones take the
// reads and writes of /dev/fuse (copies and wake-ups) off the home reactor.
//
// With FUSE over io_uring (a ring plan given to start()), each clone's reactor also registers the
// ring entries of the queue of the CPU it is pinned to (fs/fuse/ring.hh); they serve through the
// clone's channel and so relay the same way. They end only with the connection, so wait()
// returns only then.
//
// INTERRUPT may be read on any fd: a channel that does not hold the target hands it to every
// other channel (fuse_channel::interrupt). An abort of a relayed request (INTERRUPT or stop) is
// posted to the home reactor, where the handler's abort_source lives.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/reactor_pool.hh"
#include "core/task.hh"
#include "fs/fuse/channel.hh"

namespace ossuring::fs {

// FUSE over io_uring on the clones' reactors: each registers `per_queue` entries for the queue of
// the CPU it is pinned to, served there (fs/fuse/ring.hh).
struct fuse_ring_plan {
  bool on = false;
  unsigned per_queue = 0;
  size_t payload = 0;
};

struct fuse_channel_stats {
  unsigned reactor = 0;
  int cpu = -1;
  uint64_t requests = 0;        // read from /dev/fuse
  uint64_t uring_requests = 0;  // served through this reactor's ring entries
};

class fuse_clones {
 public:
  // On the home reactor. `home_ch` serves `session_fd`; `handler` is the home dispatcher.
  fuse_clones(reactor_pool& pool, unsigned home, int session_fd, fuse_channel& home_ch,
              fuse_dispatcher& handler);
  fuse_clones(const fuse_clones&) = delete;
  fuse_clones& operator=(const fuse_clones&) = delete;
  ~fuse_clones();

  // On the home reactor, once INIT is answered: clones the session once for every other reactor
  // and starts a channel there. A clone that cannot be opened is logged and skipped (the mount
  // keeps working with fewer channels). Returns the number of channels serving.
  unsigned start(const fuse_init_wishes& wishes, unsigned readers, const fuse_ring_plan& ring = {});
  // On the home reactor, after start(): the CPUs whose queues the clones register; the home
  // reactor registers every other one. Empty without a ring plan.
  std::vector<uint16_t> ring_queues() const;
  // Requests served through the clones' ring entries; readable from the home reactor.
  uint64_t uring_requests() const;
  // On the home reactor: makes every clone channel stop (in-flight handlers are aborted).
  void stop();
  // On the home reactor: completes once every clone channel has ended and closed its fd. With
  // ring entries on the clones, only once the connection has ended too (they cannot be
  // cancelled): the session unmounts first.
  task<void> wait();

  // Requests read per channel, home first; readable from the home reactor at any time.
  std::vector<fuse_channel_stats> stats() const;

  // Shared with the messages posted between reactors, which may outlive this object.
  struct state;

 private:
  task<void> serve_clone(unsigned k, int fd, fuse_init_wishes wishes, fuse_session_params params,
                         unsigned readers, int ring_cpu, fuse_ring_plan ring);

  reactor_pool& _pool;
  unsigned _home;
  int _session_fd;
  fuse_channel& _home_ch;
  fuse_dispatcher& _handler;
  std::shared_ptr<state> _st;
  gate _clones;  // on the home reactor: one task per clone, awaiting its reactor
  bool _stopped = false;
};

}  // namespace ossuring::fs
