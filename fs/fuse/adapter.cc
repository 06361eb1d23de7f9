// fuse_ops: dispatch, replies, and the handlers of lookups, attributes, directories and extended
// attributes (open files and writes: adapter_files.cc).
#include "fs/fuse/adapter.hh"

#include <unistd.h>

#include <cerrno>
#include <string>
#include <variant>

#include "core/log.hh"

namespace ossuring::fs {

// std::visit's visitor: calls the handler of the request's type (no template catch-all: a
// missing `on` overload is a compile error here).
struct fuse_ops::dispatch {
  fuse_ops& ops;
  call& c;
  template <typename Request>
  task<void> operator()(const Request& q) const {
    return ops.on(c, q);
  }
};

void fuse_ops::on_init(const fuse_session_params& p) {
  _session = p;
  if (_mode == open_mode::passthrough && !p.passthrough) {
    log_warn("passthrough_unavailable",
             {{"reason", "the kernel did not grant FUSE_PASSTHROUGH (needs root and Linux 6.9+)"},
              {"fallback", "daemon reads"}});
  }
}

task<void> fuse_ops::handle(fuse_channel& ch, fuse_request& raw) {
  ++_counters.requests;
  const auto* bytes = reinterpret_cast<const uint8_t*>(raw.raw.data());
  result<fuse::request> decoded = fuse::decode(bytes, raw.raw.size());
  if (!decoded.ok()) {
    log_warn("fuse_bad_request",
             {{"opcode", std::to_string(raw.header.opcode)}, {"error", decoded.err().message}});
    co_await ch.reply_error(raw.header.unique, EINVAL);
    co_return;
  }
  call c{ch, raw, raw.header.unique, decoded->h.nodeid};
  const dispatch d{*this, c};
  task<void> handled = std::visit(d, decoded->body);
  co_await std::move(handled);
}

// ---- replies ----

void fuse_ops::note_interrupted(const call& c) {
  if (c.raw.abort && c.raw.abort->aborted()) {
    ++_counters.interrupted;
  }
}

task<void> fuse_ops::send(call& c, std::vector<std::byte>& out) {
  note_interrupted(c);
  auto sent = c.ch.send_encoded(std::move(out));
  co_await std::move(sent);
}

task<void> fuse_ops::fail(call& c, const error& e, const char* op) {
  ++_counters.errors;
  // Answers programs expect and act on (mv falls back to copying on EXDEV; a read-only mount
  // refuses writes) are not logged.
  if (e.code != ENOENT && e.code != ENODATA && e.code != ERANGE && e.code != ENOTEMPTY &&
      e.code != EEXIST && e.code != EXDEV && e.code != EROFS) {
    log_warn("fuse_op_failed", {{"op", op},
                                {"errno", std::to_string(e.code)},
                                {"error", e.message},
                                {"request_id", e.request_id}});
  }
  co_await c.ch.reply_error(c.unique, e.code);
}

task<void> fuse_ops::answer(call& c, int err) {
  co_await c.ch.reply_error(c.unique, err);
}

task<void> fuse_ops::reply_status(call& c, const status& s, const char* op) {
  if (!s.ok()) {
    co_await fail(c, s.err(), op);
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_empty(out, c.unique);
  co_await send(c, out);
}

// ---- lookups and attributes ----

task<void> fuse_ops::on(call& c, const fuse::req::lookup& q) {
  ++_counters.lookups;
  result<entry_reply> e = co_await _fs.lookup(c.ino, q.name);
  std::vector<std::byte> out;
  if (e.ok()) {
    fuse::encode_entry(out, c.unique, *e);
  } else if (e.err().code == ENOENT && _fs.negative_timeout().count() > 0) {
    // A negative entry: the kernel remembers the miss and asks again only after the timeout.
    fuse::encode_negative_entry(out, c.unique, _fs.negative_timeout());
  } else {
    co_await fail(c, e.err(), "lookup");
    co_return;
  }
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::forget& q) {
  _implicit.drop(c.ino);
  _fs.forget(c.ino, q.nlookup);
  co_return;  // FORGET has no reply
}

task<void> fuse_ops::on(call&, const fuse::req::batch_forget& q) {
  for (uint32_t i = 0; i < q.count; ++i) {
    auto [id, n] = q.at(i);
    _implicit.drop(id);
    _fs.forget(id, n);
  }
  co_return;
}

task<void> fuse_ops::on(call& c, const fuse::req::getattr&) {
  ++_counters.getattrs;
  result<attr_reply> a = co_await _fs.getattr(c.ino);
  if (!a.ok()) {
    co_await fail(c, a.err(), "getattr");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_attr(out, c.unique, *a);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::statfs&) {
  result<fs_statfs> s = co_await _fs.statfs(c.ino);
  if (!s.ok()) {
    co_await fail(c, s.err(), "statfs");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_statfs(out, c.unique, *s);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::access& q) {
  // ACCESS has no file-system call: a read-only mount refuses writing here; everything else
  // follows the mode bits that the kernel checks itself with default_permissions.
  co_await answer(c, (q.mask & W_OK) && !writable() ? EROFS : 0);
}

// ---- directories ----

task<void> fuse_ops::on(call& c, const fuse::req::opendir&) {
  result<uint64_t> fh = co_await _fs.opendir(c.ino);
  if (!fh.ok()) {
    co_await fail(c, fh.err(), "opendir");
    co_return;
  }
  // An index-mode listing changes only with a refresh: the kernel caches it, and keeps that
  // cache across opens until a refresh replaced it.
  uint32_t flags = 0;
  if (_fs.options().mode == fs_mode::index) {
    flags = abi::fopen_cache_dir | (_fs.keep_dir_cache(c.ino) ? abi::fopen_keep_cache : 0);
  }
  std::vector<std::byte> out;
  fuse::encode_open(out, c.unique, *fh, flags);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::readdir& q) {
  ++_counters.readdirs;
  std::vector<std::byte> out;
  fuse::dirent_packer packer(out, c.unique, q.size, q.plus);
  status s = co_await _fs.readdir(c.ino, q.fh, q.offset, q.plus,
                                  [&](const dir_entry& e) { return packer.add(e); });
  if (!s.ok()) {
    co_await fail(c, s.err(), "readdir");
    co_return;
  }
  packer.finish();
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::releasedir& q) {
  _fs.releasedir(c.ino, q.fh);
  const status done;
  co_await reply_status(c, done, "releasedir");
}

// ---- extended attributes ----

task<void> fuse_ops::on(call& c, const fuse::req::getxattr& q) {
  // `ls -l` asks every file for security.* and system.* attributes: answer those at once,
  // before the file system builds the object's key.
  if (!q.name.starts_with("user.oss.")) {
    co_await answer(c, ENODATA);
    co_return;
  }
  result<std::string> v = co_await _fs.getxattr(c.ino, q.name);
  if (!v.ok()) {
    co_await fail(c, v.err(), "getxattr");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_xattr(out, c.unique, *v, q.size);
  co_await send(c, out);
}

task<void> fuse_ops::on(call& c, const fuse::req::listxattr& q) {
  result<std::vector<std::string>> v = co_await _fs.listxattr(c.ino);
  if (!v.ok()) {
    co_await fail(c, v.err(), "listxattr");
    co_return;
  }
  std::vector<std::byte> out;
  fuse::encode_xattr_list(out, c.unique, *v, q.size);
  co_await send(c, out);
}

// ---- the channel's requests, and unknown ones ----

task<void> fuse_ops::on(call& c, const fuse::req::init&) {
  co_await answer(c, ENOSYS);  // answered by the channel before any handler runs
}

task<void> fuse_ops::on(call& c, const fuse::req::destroy&) {
  co_await answer(c, ENOSYS);  // the channel's
}

task<void> fuse_ops::on(call& c, const fuse::req::interrupt&) {
  co_await answer(c, ENOSYS);  // the channel routes INTERRUPT to its target
}

task<void> fuse_ops::on(call& c, const fuse::req::unsupported&) {
  co_await answer(c, ENOSYS);
}

}  // namespace ossuring::fs
