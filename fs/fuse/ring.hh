// FUSE over io_uring (Linux 6.14+, with the fuse module's enable_uring=Y): ring entries on the
// /dev/fuse fd, one request at a time each, served through the channel.
//
// Each entry owns a 288-byte header buffer and a payload buffer the kernel fills with a request
// (fuse_in_header, the opcode's fixed argument, then the rest) and reads the reply from
// (fuse_out_header, then the reply's bytes). REGISTER hands an entry to the kernel; its
// completion is the first request; COMMIT_AND_FETCH returns the reply and waits for the next in
// one submission. The kernel routes a request to the queue of the CPU its caller runs on, and
// takes requests through the ring only once every possible CPU's queue has an entry; until then,
// and always for INIT, FORGET and INTERRUPT, requests come through /dev/fuse reads.
//
// Commands go through the current reactor's ring, which must use 128-byte SQEs
// (reactor_config::sqe128); an entry's requests are served and committed on that reactor. With
// several reactors each registers the queue of its own CPU (fs/fuse/clones.hh), so a caller is
// answered on the CPU it runs on, and the home reactor registers every other CPU's queue. An
// entry's buffers live as long as the object, and the object as long as an entry's command is in
// the kernel: io_uring cannot cancel these commands, only the end of the FUSE connection completes
// them (ENOTCONN). So wait() returns once the mount is gone and the last file open on it was
// closed; until then the entries keep serving. They use a duplicate of the session fd, which
// unmounting closes while they may still commit.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/gate.hh"
#include "core/net.hh"
#include "core/task.hh"
#include "fs/fuse/abi.hh"
#include "fs/fuse/channel.hh"

namespace ossuring::fs {

class fuse_uring {
 public:
  // `queues`: the queues (CPU numbers) this object registers entries for, `per_queue` entries
  // each, with payload buffers of at least the kernel's max_payload (max(8 KiB, max_write,
  // max_pages * 4 KiB)). Every possible CPU's queue needs entries, from this object or others
  // on other reactors. `count_into`, if set, also counts the requests served (read elsewhere).
  fuse_uring(fuse_channel& ch, int fuse_fd, std::vector<uint16_t> queues, unsigned per_queue,
             size_t payload_bytes, std::atomic<uint64_t>* count_into = nullptr);
  fuse_uring(const fuse_uring&) = delete;
  fuse_uring& operator=(const fuse_uring&) = delete;
  ~fuse_uring();

  // Registers every entry (on the calling reactor) and serves requests until the kernel ends
  // the connection.
  void start();
  // Every entry has ended.
  task<void> wait() { co_await _entries_gate.close(); }

  uint64_t requests() const noexcept { return _requests; }
  unsigned entries() const noexcept { return static_cast<unsigned>(_entries.size()); }
  unsigned live_entries() const noexcept { return _live; }

 private:
  struct entry {
    abi::uring_req_header header{};
    std::vector<std::byte> payload;
    iovec iov[2]{};
    uint16_t qid = 0;
  };
  task<void> serve(entry& e);

  fuse_channel& _ch;
  unique_fd _fd;  // a duplicate of the session's
  std::vector<std::unique_ptr<entry>> _entries;
  gate _entries_gate;
  uint64_t _requests = 0;
  std::atomic<uint64_t>* _count_into = nullptr;
  unsigned _live = 0;
};

}  // namespace ossuring::fs
