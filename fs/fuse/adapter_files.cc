// fuse_ops: the handlers of open files (open, read, release, flush, fsync) and of writes.
//
// EROFS: on a read-only mount the file system refuses create, mkdir, unlink, rmdir, rename,
// opens for writing and truncation (setattr with a size) itself. The adapter answers EROFS
// only where no file-system call exists: setattr without a size (chmod, chown, utimens: the
// file system stores none of these and answers the attributes unchanged), ACCESS W_OK
// (adapter.cc), and MKNOD, LINK, SYMLINK, SETXATTR, REMOVEXATTR and FALLOCATE.
#include <fcntl.h>
#include <linux/fuse.h>

#include <cerrno>
#include <optional>

#include "core/log.hh"
#include "fs/fuse/adapter.hh"

namespace ossuring::fs {

// ---- open files ----

task<void> fuse_ops::on(call& c, const fuse::req::open& q) {
  ++_counters.opens;
  const bool for_writing = (q.flags & O_ACCMODE) != O_RDONLY || (q.flags & O_TRUNC);
  if (!for_writing && _mode == open_mode::noopen && _session.no_open_support && !writable()) {
    // ENOSYS here tells the kernel to skip OPEN (and RELEASE) for the rest of the mount.
    co_await answer(c, ENOSYS);
    co_return;
  }
  result<open_reply> o = co_await _fs.open(c.ino, static_cast<int>(q.flags), c.raw.abort);
  if (!o.ok()) {
    co_await fail(c, o.err(), "open");
    co_return;
  }
  // A writable mount uploads on FLUSH (every close), so its handles keep FLUSH.
  uint32_t flags = writable() ? 0 : abi::fopen_noflush;
  int32_t backing_id = 0;
  if (_mode == open_mode::passthrough && _session.passthrough && o->backing_fd >= 0) {
    backing_id = _backing.acquire(c.ch, c.ino, o->fh, o->backing_fd);
    if (backing_id != 0) {
      // Not FOPEN_KEEP_CACHE: combined with passthrough, reads failed with EIO (Linux 6.18).
      flags |= abi::fopen_passthrough;
      ++_counters.passthrough_opens;
    }
  }
  if (backing_id == 0 && o->keep_cache) {
    flags |= abi::fopen_keep_cache;
  }
  std::vector<std::byte> out;
  fuse::encode_open(out, c.unique, o->fh, flags, backing_id);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::read& q) {
  ++_counters.daemon_reads;
  uint64_t fh = q.fh;
  if (fh == 0) {
    result<uint64_t> implicit = co_await _implicit.get(c.ino, c.raw.abort);  // noopen mode
    if (!implicit.ok()) {
      co_await fail(c, implicit.err(), "read");
      co_return;
    }
    fh = *implicit;
  }
  // The data is read once, into the buffer the reply is written from: a ring entry's payload
  // (FUSE over io_uring) or a buffer of this reply's own, which the reply then carries along
  // (to a clone's fd) or writes with the header in one writev.
  data_buffer buf(c.raw, q.size);
  result<size_t> n = co_await _fs.read(c.ino, fh, q.offset, buf.bytes(), c.raw.abort);
  if (!n.ok()) {
    co_await fail(c, n.err(), "read");
    co_return;
  }
  _counters.daemon_read_bytes += *n;
  note_interrupted(c);
  auto sent = c.ch.reply_data(c.unique, std::move(buf), *n);
  co_await std::move(sent);
}

task<void> fuse_ops::on(call& c, const fuse::req::release& q) {
  _backing.release(c.ch, q.fh);
  _fs.release(c.ino, q.fh);
  const status done;
  co_await reply_status(c, done, "release");
}

task<void> fuse_ops::on(call& c, const fuse::req::flush& q) {
  if (!writable()) {
    // Nothing is ever dirty on a read-only mount: ENOSYS makes the kernel stop sending FLUSH
    // (noopen mode cannot spare it with FOPEN_NOFLUSH, as it never answers an OPEN).
    co_await answer(c, ENOSYS);
    co_return;
  }
  // close(2) waits for this: the file is in OSS (or close reports why not) when it returns.
  status s = co_await _fs.flush(c.ino, q.fh);
  co_await reply_status(c, s, "flush");
}

task<void> fuse_ops::on(call& c, const fuse::req::fsync& q) {
  status s;
  if (writable()) {  // not a conditional expression: GCC 12 miscompiles co_await inside one
    s = co_await _fs.fsync(c.ino, q.fh);
  }
  co_await reply_status(c, s, "fsync");
}

// ---- writes ----

task<void> fuse_ops::on(call& c, const fuse::req::create& q) {
  result<create_reply> r = co_await _fs.create(c.ino, q.name);
  if (!r.ok()) {
    co_await fail(c, r.err(), "create");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_create(out, c.unique, r->entry, r->fh, 0);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::write& q) {
  result<size_t> n = co_await _fs.write(c.ino, q.fh, q.offset, q.data);
  if (!n.ok()) {
    co_await fail(c, n.err(), "write");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_write(out, c.unique, static_cast<uint32_t>(*n));
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::setattr& q) {
  // Only the size is stored; mode, owner and times come from the mount's options (chmod,
  // chown and touch succeed without effect: docs/semantics.md "Writes").
  std::optional<uint64_t> size;
  if (q.valid & FATTR_SIZE) {
    size = q.size;
  }
  if (!size && !writable()) {
    // Without a size the file system only answers the attributes (it would not refuse).
    co_await answer(c, EROFS);
    co_return;
  }
  result<attr_reply> a = co_await _fs.setattr(c.ino, size);
  if (!a.ok()) {
    co_await fail(c, a.err(), "setattr");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_attr(out, c.unique, *a);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::mkdir& q) {
  result<entry_reply> e = co_await _fs.mkdir(c.ino, q.name);
  if (!e.ok()) {
    co_await fail(c, e.err(), "mkdir");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_entry(out, c.unique, *e);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::unlink& q) {
  status s = co_await _fs.unlink(c.ino, q.name);
  co_await reply_status(c, s, "unlink");
}

task<void> fuse_ops::on(call& c, const fuse::req::rmdir& q) {
  status s = co_await _fs.rmdir(c.ino, q.name);
  co_await reply_status(c, s, "rmdir");
}

task<void> fuse_ops::on(call& c, const fuse::req::rename& q) {
  status s = co_await _fs.rename(c.ino, q.oldname, q.newdir, q.newname, q.flags);
  co_await reply_status(c, s, "rename");
}

// ---- writes OSS has no counterpart for (no file-system call: refused here) ----

task<void> fuse_ops::refuse_write(call& c, int writable_errno) {
  co_await answer(c, writable() ? writable_errno : EROFS);
}

// No hard links, special files or symbolic links (OSS's Symlink objects are not written):
// EPERM, as file systems without them answer.
task<void> fuse_ops::on(call& c, const fuse::req::mknod&) {
  co_await refuse_write(c, EPERM);
}

task<void> fuse_ops::on(call& c, const fuse::req::link&) {
  co_await refuse_write(c, EPERM);
}

task<void> fuse_ops::on(call& c, const fuse::req::symlink&) {
  co_await refuse_write(c, EPERM);
}

// Only user.oss.* attributes exist, read from the object: none can be set or removed.
task<void> fuse_ops::on(call& c, const fuse::req::setxattr&) {
  co_await refuse_write(c, EOPNOTSUPP);
}

task<void> fuse_ops::on(call& c, const fuse::req::removexattr&) {
  co_await refuse_write(c, EOPNOTSUPP);
}

task<void> fuse_ops::on(call& c, const fuse::req::fallocate&) {
  co_await refuse_write(c, EOPNOTSUPP);
}

}  // namespace ossuring::fs
