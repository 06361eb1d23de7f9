// fuse_ops: the thin FUSE adapter. Each handler takes one decoded request, awaits one
// file-system call and replies; all policy lives in `filesystem`, which knows nothing of FUSE.
//
// Dispatch is a std::visit over the decoded request (fs/fuse/codec.hh) with one `on` overload
// per request type and no catch-all: a request type without its handler does not compile.
// Metadata handlers are in adapter.cc, open files and writes in adapter_files.cc.
//
// Open modes (docs/semantics.md):
//   passthrough  a whole small object held in a local file is handed to the kernel as a backing
//                file: later reads never reach the daemon (FOPEN_PASSTHROUGH | FOPEN_NOFLUSH).
//                The ids are counted per inode in backing_ids (fs/fuse/backing_ids.hh).
//   noopen       the first OPEN is answered ENOSYS, so the kernel stops sending OPEN/RELEASE for
//                the mount and keeps the page cache across opens; the daemon serves READs through
//                one implicit handle per inode (fs/fuse/implicit_handles.hh).
//   read         ordinary opens (FOPEN_NOFLUSH | FOPEN_KEEP_CACHE); the daemon serves READs.
//
// A read-only mount's writes are refused by the file system (EROFS); the adapter answers EROFS
// itself only for requests with no file-system call at all (see adapter_files.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "fs/filesystem.hh"
#include "fs/fuse/backing_ids.hh"
#include "fs/fuse/channel.hh"
#include "fs/fuse/codec.hh"
#include "fs/fuse/implicit_handles.hh"

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
  fuse_ops(filesystem& fs, open_mode mode) : _fs(fs), _mode(mode), _implicit(fs) {}

  void on_init(const fuse_session_params& p) override;
  task<void> handle(fuse_channel& ch, fuse_request& req) override;

  const fuse_ops_counters& counters() const { return _counters; }
  // What INIT settled (passthrough granted or not).
  const fuse_session_params& session() const { return _session; }
  open_mode mode() const { return _mode; }

 private:
  // The request being handled: where its reply goes and what it came with.
  struct call {
    fuse_channel& ch;
    fuse_request& raw;
    uint64_t unique;
    uint64_t ino;  // the request's node id
  };
  struct dispatch;

  // ---- adapter.cc: lookups, attributes, directories, extended attributes ----
  task<void> on(call& c, const fuse::req::lookup& q);
  task<void> on(call& c, const fuse::req::forget& q);
  task<void> on(call& c, const fuse::req::batch_forget& q);
  task<void> on(call& c, const fuse::req::getattr& q);
  task<void> on(call& c, const fuse::req::opendir& q);
  task<void> on(call& c, const fuse::req::readdir& q);
  task<void> on(call& c, const fuse::req::releasedir& q);
  task<void> on(call& c, const fuse::req::statfs& q);
  task<void> on(call& c, const fuse::req::getxattr& q);
  task<void> on(call& c, const fuse::req::listxattr& q);
  task<void> on(call& c, const fuse::req::access& q);
  // INIT, DESTROY and INTERRUPT are the channel's (fs/fuse/channel.hh); anything else unknown.
  task<void> on(call& c, const fuse::req::init& q);
  task<void> on(call& c, const fuse::req::destroy& q);
  task<void> on(call& c, const fuse::req::interrupt& q);
  task<void> on(call& c, const fuse::req::unsupported& q);

  // ---- adapter_files.cc: open files, reads, writes ----
  task<void> on(call& c, const fuse::req::open& q);
  task<void> on(call& c, const fuse::req::read& q);
  task<void> on(call& c, const fuse::req::release& q);
  task<void> on(call& c, const fuse::req::flush& q);
  task<void> on(call& c, const fuse::req::fsync& q);
  task<void> on(call& c, const fuse::req::create& q);
  task<void> on(call& c, const fuse::req::write& q);
  task<void> on(call& c, const fuse::req::setattr& q);
  task<void> on(call& c, const fuse::req::mkdir& q);
  task<void> on(call& c, const fuse::req::unlink& q);
  task<void> on(call& c, const fuse::req::rmdir& q);
  task<void> on(call& c, const fuse::req::rename& q);
  task<void> on(call& c, const fuse::req::mknod& q);
  task<void> on(call& c, const fuse::req::link& q);
  task<void> on(call& c, const fuse::req::symlink& q);
  task<void> on(call& c, const fuse::req::setxattr& q);
  task<void> on(call& c, const fuse::req::removexattr& q);
  task<void> on(call& c, const fuse::req::fallocate& q);

  // Replies: an encoded message (`out` is taken), an error from the file system (counted and,
  // unless programs expect it, logged), a bare errno, and a status (empty reply when ok).
  task<void> send(call& c, std::vector<std::byte>& out);
  task<void> fail(call& c, const error& e, const char* op);
  task<void> answer(call& c, int err);
  task<void> reply_status(call& c, const status& s, const char* op);
  // Requests the file system has no call for, writes OSS cannot store: `writable_errno` on a
  // writable mount, EROFS on a read-only one.
  task<void> refuse_write(call& c, int writable_errno);

  bool writable() const { return _fs.options().writable; }
  void note_interrupted(const call& c);

  filesystem& _fs;
  open_mode _mode;
  fuse_session_params _session;
  fuse_ops_counters _counters;
  backing_ids _backing;        // passthrough mode
  implicit_handles _implicit;  // noopen mode
};

}  // namespace ossuring::fs
