// fuse_ops: the thin FUSE adapter. Each handler decodes a request, awaits one file-system call
// and replies; all policy lives in `filesystem`, which knows nothing of FUSE.
//
// Open modes (docs/semantics.md):
//   passthrough  a whole small object held in a local file is handed to the kernel as a backing
//                file: later reads never reach the daemon (FOPEN_PASSTHROUGH | FOPEN_NOFLUSH).
//   noopen       the first OPEN is answered ENOSYS, so the kernel stops sending OPEN/RELEASE for
//                the mount and keeps the page cache across opens; the daemon serves READs.
//   read         ordinary opens (FOPEN_NOFLUSH | FOPEN_KEEP_CACHE); the daemon serves READs.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "fs/filesystem.hh"
#include "fs/fuse/channel.hh"

namespace ossuring::fs {

enum class open_mode { passthrough, noopen, read };

struct fuse_ops_counters {
  uint64_t requests = 0;
  uint64_t lookups = 0;
  uint64_t getattrs = 0;
  uint64_t readdirs = 0;
  uint64_t opens = 0;
  uint64_t passthrough_opens = 0;
  uint64_t daemon_reads = 0;
  uint64_t daemon_read_bytes = 0;
  uint64_t errors = 0;
  uint64_t interrupted = 0;
};

class fuse_ops final : public fuse_dispatcher {
 public:
  fuse_ops(filesystem& fs, open_mode mode) : _fs(fs), _mode(mode) {}

  void on_init(const fuse_session_params& p) override;
  task<void> handle(fuse_channel& ch, fuse_request& req) override;

  const fuse_ops_counters& counters() const { return _counters; }
  // What INIT settled (passthrough granted or not).
  const fuse_session_params& session() const { return _session; }
  open_mode mode() const { return _mode; }

 private:
  bool writable() const { return _fs.options().writable; }
  void drop_implicit_handle(uint64_t ino);
  task<void> reply_error(fuse_channel& ch, uint64_t unique, const error& e, const char* op);

  filesystem& _fs;
  open_mode _mode;
  fuse_session_params _session;
  fuse_ops_counters _counters;
  // Passthrough backing ids, one per inode (the kernel allows one backing file per inode), shared
  // by that inode's open files and closed at the last RELEASE (not earlier: the opener looks the
  // id up after our reply). `fd` identifies the blob: it stays open while the id is in use.
  struct inode_backing {
    int id = 0;
    int fd = -1;
    unsigned refs = 0;
  };
  std::unordered_map<uint64_t, inode_backing> _inode_backing;
  std::unordered_map<uint64_t, uint64_t> _backing_fh;  // file handle -> inode
  // noopen mode: the kernel sends READ with fh 0; one implicit handle per inode.
  std::unordered_map<uint64_t, uint64_t> _implicit_fh;
};

}  // namespace ossuring::fs
