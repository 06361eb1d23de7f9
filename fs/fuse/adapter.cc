// fuse_ops: decode, await one filesystem call, reply.
#include "fs/fuse/adapter.hh"

#include <fcntl.h>
#include <linux/fuse.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/log.hh"
#include "fs/fuse/codec.hh"

namespace ossuring::fs {

namespace {
constexpr uint32_t fopen_noflush = abi::fopen_noflush;
constexpr uint32_t fopen_keep_cache = abi::fopen_keep_cache;
constexpr uint32_t fopen_passthrough = abi::fopen_passthrough;
}  // namespace

void fuse_ops::on_init(const fuse_session_params& p) {
  _session = p;
  if (_mode == open_mode::passthrough && !p.passthrough) {
    log_warn("passthrough_unavailable",
             {{"reason", "the kernel did not grant FUSE_PASSTHROUGH (needs root and Linux 6.9+)"},
              {"fallback", "daemon reads"}});
  }
}

void fuse_ops::drop_implicit_handle(uint64_t ino) {
  // The kernel forgets an inode only after dropping its page cache: the implicit handle (and
  // the blob it pins) is not needed any more.
  if (auto it = _implicit_fh.find(ino); it != _implicit_fh.end()) {
    _fs.release(ino, it->second);
    _implicit_fh.erase(it);
  }
}

task<void> fuse_ops::reply_error(fuse_channel& ch, uint64_t unique, const error& e,
                                 const char* op) {
  ++_counters.errors;
  // Answers programs expect and act on (mv falls back to copying on EXDEV) are not logged.
  if (e.code != ENOENT && e.code != ENODATA && e.code != ERANGE && e.code != ENOTEMPTY &&
      e.code != EEXIST && e.code != EXDEV) {
    log_warn("fuse_op_failed", {{"op", op},
                                {"errno", std::to_string(e.code)},
                                {"error", e.message},
                                {"request_id", e.request_id}});
  }
  co_await ch.reply_error(unique, e.code);
}

task<void> fuse_ops::handle(fuse_channel& ch, fuse_request& raw) {
  ++_counters.requests;
  const auto* bytes = reinterpret_cast<const uint8_t*>(raw.raw.data());
  result<fuse::request> decoded = fuse::decode(bytes, raw.raw.size());
  const uint64_t unique = raw.header.unique;
  if (!decoded.ok()) {
    log_warn("fuse_bad_request",
             {{"opcode", std::to_string(raw.header.opcode)}, {"error", decoded.err().message}});
    co_await ch.reply_error(unique, EINVAL);
    co_return;
  }
  const fuse::request& r = *decoded;
  const uint64_t ino = r.h.nodeid;
  std::vector<std::byte> out;

  if (auto* q = std::get_if<fuse::req::lookup>(&r.body)) {
    ++_counters.lookups;
    result<entry_reply> e = co_await _fs.lookup(ino, q->name);
    if (!e.ok()) {
      auto neg = _fs.negative_timeout();
      if (e.err().code == ENOENT && neg.count() > 0) {
        // A negative entry: the kernel remembers the miss and asks again only after `neg`.
        fuse::encode_negative_entry(out, unique, neg);
        co_await ch.send_encoded(out);
        co_return;
      }
      co_await reply_error(ch, unique, e.err(), "lookup");
      co_return;
    }
    fuse::encode_entry(out, unique, *e);
  } else if (auto* q = std::get_if<fuse::req::forget>(&r.body)) {
    drop_implicit_handle(ino);
    _fs.forget(ino, q->nlookup);
    co_return;  // FORGET has no reply
  } else if (auto* q = std::get_if<fuse::req::batch_forget>(&r.body)) {
    for (uint32_t i = 0; i < q->count; ++i) {
      auto [id, n] = q->at(i);
      drop_implicit_handle(id);
      _fs.forget(id, n);
    }
    co_return;
  } else if (std::get_if<fuse::req::getattr>(&r.body)) {
    ++_counters.getattrs;
    result<attr_reply> a = co_await _fs.getattr(ino);
    if (!a.ok()) {
      co_await reply_error(ch, unique, a.err(), "getattr");
      co_return;
    }
    fuse::encode_attr(out, unique, *a);
  } else if (std::get_if<fuse::req::opendir>(&r.body)) {
    result<uint64_t> fh = co_await _fs.opendir(ino);
    if (!fh.ok()) {
      co_await reply_error(ch, unique, fh.err(), "opendir");
      co_return;
    }
    // An index-mode listing changes only with a refresh: the kernel caches it, and keeps that
    // cache across opens until a refresh replaced it.
    uint32_t flags = 0;
    if (_fs.options().mode == fs_mode::index) {
      flags = abi::fopen_cache_dir | (_fs.keep_dir_cache(ino) ? fopen_keep_cache : 0);
    }
    fuse::encode_open(out, unique, *fh, flags);
  } else if (auto* q = std::get_if<fuse::req::readdir>(&r.body)) {
    ++_counters.readdirs;
    fuse::dirent_packer packer(out, unique, q->size, q->plus);
    status s = co_await _fs.readdir(ino, q->fh, q->offset, q->plus,
                                    [&](const dir_entry& e) { return packer.add(e); });
    if (!s.ok()) {
      out.clear();
      co_await reply_error(ch, unique, s.err(), "readdir");
      co_return;
    }
    packer.finish();
  } else if (auto* q = std::get_if<fuse::req::releasedir>(&r.body)) {
    _fs.releasedir(ino, q->fh);
    fuse::encode_empty(out, unique);
  } else if (auto* q = std::get_if<fuse::req::open>(&r.body)) {
    ++_counters.opens;
    const bool for_writing = (q->flags & O_ACCMODE) != O_RDONLY || (q->flags & O_TRUNC);
    if (for_writing && !writable()) {
      co_await ch.reply_error(unique, EROFS);
      co_return;
    }
    if (_mode == open_mode::noopen && _session.no_open_support && !writable()) {
      // ENOSYS here tells the kernel to skip OPEN (and RELEASE) for the rest of the mount.
      co_await ch.reply_error(unique, ENOSYS);
      co_return;
    }
    result<open_reply> o = co_await _fs.open(ino, static_cast<int>(q->flags), raw.abort);
    if (!o.ok()) {
      co_await reply_error(ch, unique, o.err(), "open");
      co_return;
    }
    // A writable mount uploads on FLUSH (every close), so its handles keep FLUSH.
    uint32_t flags = writable() ? 0 : fopen_noflush;
    int32_t backing_id = 0;
    if (_mode == open_mode::passthrough && _session.passthrough && o->backing_fd >= 0) {
      // One backing id per inode, shared by its open files: the kernel refuses (EIO on open
      // or read) a second, different backing file for an inode that already has one.
      auto it = _inode_backing.find(ino);
      if (it != _inode_backing.end() && it->second.fd == o->backing_fd) {
        ++it->second.refs;
        backing_id = it->second.id;
      } else if (it == _inode_backing.end()) {
        result<int> id = ch.backing_open(o->backing_fd);
        if (id.ok()) {
          backing_id = *id;
          _inode_backing[ino] = inode_backing{*id, o->backing_fd, 1};
        } else {
          log_warn("passthrough_open_failed", {{"error", id.err().message}});
        }
      }
      // else: the object changed while an older copy is open; this open is served by READs.
      if (backing_id != 0) {
        _backing_fh[o->fh] = ino;
        // Not FOPEN_KEEP_CACHE: combined with passthrough, reads failed with EIO (Linux 6.18).
        flags |= fopen_passthrough;
        ++_counters.passthrough_opens;
      }
    }
    if (backing_id == 0 && o->keep_cache) {
      flags |= fopen_keep_cache;
    }
    fuse::encode_open(out, unique, o->fh, flags, backing_id);
  } else if (auto* q = std::get_if<fuse::req::read>(&r.body)) {
    ++_counters.daemon_reads;
    uint64_t fh = q->fh;
    if (fh == 0) {
      // noopen mode: one implicit handle per inode, opened on first read.
      if (auto it = _implicit_fh.find(ino);
          it != _implicit_fh.end() && !_fs.is_current(it->second)) {
        // The object was rewritten since (the kernel dropped its pages on the new mtime).
        _fs.release(ino, it->second);
        _implicit_fh.erase(it);
      }
      if (auto it = _implicit_fh.find(ino); it != _implicit_fh.end()) {
        fh = it->second;
      } else {
        // Unpinned: the handle lives until FORGET, far longer than the blob needs to.
        result<open_reply> o = co_await _fs.open(ino, O_RDONLY, raw.abort, false);
        if (!o.ok()) {
          co_await reply_error(ch, unique, o.err(), "read");
          co_return;
        }
        if (auto again = _implicit_fh.find(ino); again != _implicit_fh.end()) {
          _fs.release(ino, o->fh);  // a concurrent READ opened it first
          fh = again->second;
        } else {
          fh = o->fh;
          _implicit_fh[ino] = fh;
        }
      }
    }
    std::vector<std::byte> buf(q->size);
    result<size_t> n = co_await _fs.read(ino, fh, q->offset, buf, raw.abort);
    if (!n.ok()) {
      co_await reply_error(ch, unique, n.err(), "read");
      co_return;
    }
    _counters.daemon_read_bytes += *n;
    fuse::encode_data(out, unique, std::span<const std::byte>(buf.data(), *n));
  } else if (auto* q = std::get_if<fuse::req::release>(&r.body)) {
    if (auto it = _backing_fh.find(q->fh); it != _backing_fh.end()) {
      if (auto b = _inode_backing.find(it->second);
          b != _inode_backing.end() && --b->second.refs == 0) {
        ch.backing_close(b->second.id);
        _inode_backing.erase(b);
      }
      _backing_fh.erase(it);
    }
    _fs.release(ino, q->fh);
    fuse::encode_empty(out, unique);
  } else if (auto* q = std::get_if<fuse::req::flush>(&r.body)) {
    if (!writable()) {
      // Nothing is ever dirty on a read-only mount: ENOSYS makes the kernel stop sending FLUSH
      // (noopen mode cannot spare it with FOPEN_NOFLUSH, as it never answers an OPEN).
      co_await ch.reply_error(unique, ENOSYS);
      co_return;
    }
    // close(2) waits for this: the file is in OSS (or close reports why not) when it returns.
    status s = co_await _fs.flush(ino, q->fh);
    if (!s.ok()) {
      co_await reply_error(ch, unique, s.err(), "flush");
      co_return;
    }
    fuse::encode_empty(out, unique);
  } else if (auto* q = std::get_if<fuse::req::fsync>(&r.body)) {
    status s;
    if (writable()) {  // not a conditional expression: GCC 12 miscompiles co_await inside one
      s = co_await _fs.fsync(ino, q->fh);
    }
    if (!s.ok()) {
      co_await reply_error(ch, unique, s.err(), "fsync");
      co_return;
    }
    fuse::encode_empty(out, unique);
  } else if (auto* q = std::get_if<fuse::req::create>(&r.body)) {
    if (!writable()) {
      co_await ch.reply_error(unique, EROFS);
      co_return;
    }
    result<create_reply> c = co_await _fs.create(ino, q->name);
    if (!c.ok()) {
      co_await reply_error(ch, unique, c.err(), "create");
      co_return;
    }
    fuse::encode_create(out, unique, c->entry, c->fh, 0);
  } else if (auto* q = std::get_if<fuse::req::write>(&r.body)) {
    result<size_t> n = co_await _fs.write(ino, q->fh, q->offset, q->data);
    if (!n.ok()) {
      co_await reply_error(ch, unique, n.err(), "write");
      co_return;
    }
    fuse::encode_write(out, unique, static_cast<uint32_t>(*n));
  } else if (auto* q = std::get_if<fuse::req::setattr>(&r.body)) {
    if (!writable()) {
      co_await ch.reply_error(unique, EROFS);
      co_return;
    }
    // Only the size is stored; mode, owner and times come from the mount's options (chmod,
    // chown and touch succeed without effect: docs/semantics.md "Writes").
    std::optional<uint64_t> size;
    if (q->valid & FATTR_SIZE) {
      size = q->size;
    }
    result<attr_reply> a = co_await _fs.setattr(ino, size);
    if (!a.ok()) {
      co_await reply_error(ch, unique, a.err(), "setattr");
      co_return;
    }
    fuse::encode_attr(out, unique, *a);
  } else if (auto* q = std::get_if<fuse::req::mkdir>(&r.body)) {
    if (!writable()) {
      co_await ch.reply_error(unique, EROFS);
      co_return;
    }
    result<entry_reply> e = co_await _fs.mkdir(ino, q->name);
    if (!e.ok()) {
      co_await reply_error(ch, unique, e.err(), "mkdir");
      co_return;
    }
    fuse::encode_entry(out, unique, *e);
  } else if (std::holds_alternative<fuse::req::unlink>(r.body) ||
             std::holds_alternative<fuse::req::rmdir>(r.body) ||
             std::holds_alternative<fuse::req::rename>(r.body)) {
    if (!writable()) {
      co_await ch.reply_error(unique, EROFS);
      co_return;
    }
    status s;
    const char* op = "unlink";
    if (auto* u = std::get_if<fuse::req::unlink>(&r.body)) {
      s = co_await _fs.unlink(ino, u->name);
    } else if (auto* d = std::get_if<fuse::req::rmdir>(&r.body)) {
      op = "rmdir";
      s = co_await _fs.rmdir(ino, d->name);
    } else {
      const auto& rn = std::get<fuse::req::rename>(r.body);
      op = "rename";
      s = co_await _fs.rename(ino, rn.oldname, rn.newdir, rn.newname, rn.flags);
    }
    if (!s.ok()) {
      co_await reply_error(ch, unique, s.err(), op);
      co_return;
    }
    fuse::encode_empty(out, unique);
  } else if (std::get_if<fuse::req::statfs>(&r.body)) {
    result<fs_statfs> s = co_await _fs.statfs(ino);
    if (!s.ok()) {
      co_await reply_error(ch, unique, s.err(), "statfs");
      co_return;
    }
    fuse::encode_statfs(out, unique, *s);
  } else if (auto* q = std::get_if<fuse::req::getxattr>(&r.body)) {
    // `ls -l` asks every file for security.* and system.* attributes: answer those at once,
    // before the file system builds the object's key.
    if (!q->name.starts_with("user.oss.")) {
      co_await ch.reply_error(unique, ENODATA);
      co_return;
    }
    result<std::string> v = co_await _fs.getxattr(ino, q->name);
    if (!v.ok()) {
      co_await reply_error(ch, unique, v.err(), "getxattr");
      co_return;
    }
    fuse::encode_xattr(out, unique, *v, q->size);
  } else if (auto* q = std::get_if<fuse::req::listxattr>(&r.body)) {
    result<std::vector<std::string>> v = co_await _fs.listxattr(ino);
    if (!v.ok()) {
      co_await reply_error(ch, unique, v.err(), "listxattr");
      co_return;
    }
    fuse::encode_xattr_list(out, unique, *v, q->size);
  } else if (auto* q = std::get_if<fuse::req::access>(&r.body)) {
    // A read-only mount refuses writing; everything else follows the mode bits that the
    // kernel checks itself with default_permissions.
    co_await ch.reply_error(unique, (q->mask & W_OK) && !writable() ? EROFS : 0);
    co_return;
  } else {
    // Writes OSS has no counterpart for, and anything unimplemented.
    switch (r.h.opcode) {
      case FUSE_MKNOD:
      case FUSE_LINK:
      case FUSE_SYMLINK:
        // No hard links, special files or symbolic links (OSS's Symlink objects are not
        // written): EPERM, as file systems without them answer.
        co_await ch.reply_error(unique, writable() ? EPERM : EROFS);
        co_return;
      case FUSE_SETXATTR:
      case FUSE_REMOVEXATTR:
        co_await ch.reply_error(unique, writable() ? EOPNOTSUPP : EROFS);
        co_return;
      case FUSE_FALLOCATE:
        co_await ch.reply_error(unique, writable() ? EOPNOTSUPP : EROFS);
        co_return;
      default:
        co_await ch.reply_error(unique, ENOSYS);
        co_return;
    }
  }
  if (raw.abort && raw.abort->aborted()) {
    ++_counters.interrupted;
  }
  co_await ch.send_encoded(out);
}

}  // namespace ossuring::fs
