// writer: write handles (create, open for writing, read-only opens of files being written),
// write, flush, fsync, release and truncate; staging and uploads are in upload.cc, names in
// names.cc.
#include "fs/data/writer.hh"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "fs/data/staging.hh"
#include "fs/detail/fs_util.hh"
#include "fs/errors.hh"

namespace ossuring::fs {

using namespace detail;

int64_t writer::wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

result<lazy_inode*> writer::writable_dir(uint64_t parent, std::string_view name) {
  if (!_ctx.opts.writable || _lazy == nullptr) {
    return erofs();
  }
  lazy_inode* p = _lazy->inodes().get(parent);
  if (p == nullptr) {
    return make_error(ESTALE, "unknown inode " + std::to_string(parent));
  }
  if (!p->attrs.is_dir) {
    return make_error(ENOTDIR, "not a directory");
  }
  if (name.size() > index::max_name || p->key.size() + name.size() + 1 > max_key_bytes) {
    return make_error(ENAMETOOLONG, "name too long for an OSS key: " + std::string(name));
  }
  if (!valid_name(name)) {
    return make_error(EINVAL, "invalid name");
  }
  return p;
}

task<result<create_reply>> writer::create(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string key = (*p)->key + std::string(name);
  auto s = new_stage(key);
  if (!s) {
    co_return std::move(s).err();
  }
  object_attrs a;
  a.mtime_sec = wall_now();
  uint64_t ino = _lazy->inodes().intern(parent, key, a, _ctx.now() + _ctx.opts.attr_timeout);
  _lazy->inodes().add_lookup(ino);
  (*s)->version = 1;  // an empty file is still a file: uploaded at its first flush
  (*s)->handles = 1;
  if (auto old = _ctx.staged.find(ino); old != _ctx.staged.end()) {
    old->second->unlinked = true;  // replaced: the older staged copy is never uploaded
  }
  _ctx.staged[ino] = *s;
  uint64_t fh = _ctx.next_fh++;
  _writers[fh] = *s;
  _lazy->listing_put(parent, name, &a);
  _lazy->negative().erase(key);
  co_return create_reply{_ctx.make_entry(ino, a), fh};
}

task<result<std::shared_ptr<staged_file>>> writer::staged_for(uint64_t ino, uint64_t keep) {
  if (!_ctx.opts.writable || _lazy == nullptr) {
    co_return erofs();
  }
  auto n = _lazy->resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  if (n->attrs.is_dir) {
    co_return make_error(EISDIR, "is a directory");
  }
  if (auto it = _ctx.staged.find(ino); it != _ctx.staged.end()) {
    co_return it->second;
  }
  auto fresh = new_stage(n->key);
  if (!fresh) {
    co_return std::move(fresh).err();
  }
  std::shared_ptr<staged_file> s = std::move(*fresh);
  keep = std::min(keep, n->attrs.size);
  if (keep > 0) {
    // OSS has no partial writes: the object (or the part of it a truncate keeps) is staged
    // and uploaded again whole.
    if (status st = co_await fill_stage(*s, n->key, keep, n->attrs.etag); !st) {
      co_return std::move(st).err();
    }
  }
  s->size = keep;
  s->in_order = keep == 0;  // streamed parts need the whole file written in order
  s->in_oss = true;
  s->version = 1;
  s->uploaded = keep == n->attrs.size ? 1 : 0;  // the same bytes as OSS has, or not
  if (auto again = _ctx.staged.find(ino); again != _ctx.staged.end()) {
    co_return again->second;  // another open staged it while this one waited
  }
  _ctx.staged[ino] = s;
  co_return s;
}

task<result<open_reply>> writer::open_for_write(uint64_t ino, int flags) {
  const bool trunc = (flags & O_TRUNC) != 0;
  auto s = co_await staged_for(ino, trunc ? 0 : UINT64_MAX);
  if (!s) {
    co_return std::move(s).err();
  }
  if (trunc && (*s)->size != 0) {
    if (::ftruncate((*s)->fd, 0) != 0) {
      co_return sys_error(errno, "truncating the staged file");
    }
    (*s)->size = 0;
    ++(*s)->version;
    (*s)->in_order = false;  // another handle may still be writing where it was
  }
  ++(*s)->handles;
  open_reply rep;
  rep.fh = _ctx.next_fh++;
  _writers[rep.fh] = *s;
  co_return rep;
}

std::optional<open_reply> writer::open_staged(uint64_t ino) {
  auto st = _ctx.staged.find(ino);
  if (st == _ctx.staged.end()) {
    return std::nullopt;
  }
  ++st->second->handles;
  open_reply rep;
  rep.fh = _ctx.next_fh++;
  _writers[rep.fh] = st->second;
  return rep;
}

result<size_t> writer::read(uint64_t fh, uint64_t offset, std::span<std::byte> dest) {
  const staged_file& s = *_writers.at(fh);
  if (offset >= s.size) {
    return size_t{0};
  }
  size_t n = static_cast<size_t>(std::min<uint64_t>(dest.size(), s.size - offset));
  if (status st = pread_all(s.fd, dest.first(n), offset); !st) {
    return std::move(st).err();
  }
  return n;
}

task<result<size_t>> writer::write(uint64_t ino, uint64_t fh, uint64_t offset,
                                   std::span<const std::byte> data) {
  auto it = _writers.find(fh);
  if (it == _writers.end()) {
    co_return make_error(EBADF, "not open for writing");
  }
  std::shared_ptr<staged_file> sp = it->second;
  staged_file& s = *sp;
  if (status st = pwrite_all(s.fd, data, offset); !st) {
    co_return std::move(st).err();
  }
  if (offset != s.size) {
    s.in_order = false;  // not an append: parts already streamed may be stale
  }
  s.size = std::max<uint64_t>(s.size, offset + data.size());
  ++s.version;
  if (lazy_inode* i = _lazy->inodes().get(ino)) {
    i->attrs.size = s.size;
  }
  stream_parts(sp);
  co_return data.size();
}

task<status> writer::flush(uint64_t ino, uint64_t fh) {
  auto it = _writers.find(fh);
  if (it == _writers.end()) {
    co_return status{};  // a read handle: nothing to write
  }
  // A new file closed before anything was written is uploaded empty here, although a shell's
  // `> file` closes a duplicate fd before writing (a second PutObject follows): deferring it
  // to RELEASE, which close(2) does not wait for, would let `touch f` return before f exists.
  const staged_file& s = *it->second;
  if (_ctx.opts.background_upload && _background_uploads < _ctx.opts.background_uploads &&
      s.uploaded != s.version && !s.unlinked && !_ctx.closing) {
    ++_background_uploads;
    _ctx.background.spawn(upload_in_background(ino, it->second));
    co_return status{};
  }
  co_return co_await upload(ino, it->second);
}

task<status> writer::fsync(uint64_t ino, uint64_t fh) {
  auto it = _writers.find(fh);
  if (it == _writers.end()) {
    co_return status{};
  }
  co_return co_await upload(ino, it->second);  // waits for a background upload running first
}

task<status> writer::truncate(uint64_t ino, uint64_t size) {
  auto staged = co_await staged_for(ino, size);
  if (!staged) {
    co_return std::move(staged).err();
  }
  std::shared_ptr<staged_file> s = *staged;
  if (::ftruncate(s->fd, static_cast<off_t>(size)) != 0) {
    co_return sys_error(errno, "resizing the staged file");
  }
  if (s->size != size) {
    s->size = size;
    ++s->version;
    s->in_order = false;
  }
  if (lazy_inode* i = _lazy->inodes().get(ino)) {
    i->attrs.size = size;
  }
  if (s->handles == 0) {
    // truncate(2) without an open file: the change is uploaded now, as close would.
    status st = co_await upload(ino, s);
    if (auto it = _ctx.staged.find(ino);
        it != _ctx.staged.end() && it->second == s && s->handles == 0) {
      _ctx.staged.erase(it);
    }
    if (!st) {
      co_return st;
    }
  }
  co_return status{};
}

bool writer::release(uint64_t ino, uint64_t fh) {
  auto w = _writers.find(fh);
  if (w == _writers.end()) {
    return false;
  }
  std::shared_ptr<staged_file> s = std::move(w->second);
  _writers.erase(w);
  --s->handles;
  if (s->handles == 0 && s->uploaded != s->version && !s->unlinked) {
    // The last handle, changed after the last FLUSH (mmap, or a FLUSH that failed): upload in
    // the background, which close() of the file system waits for. With handles left, their
    // own closes upload.
    _ctx.background.spawn(upload_on_release(ino, std::move(s)));
  } else if (auto it = _ctx.staged.find(ino);
             it != _ctx.staged.end() && it->second == s && s->handles == 0 && !s->uploading) {
    _ctx.staged.erase(it);
  }
  return true;
}

void writer::upload_dirty() {
  // Files still open for writing when the mount stops: what they wrote is uploaded, not lost.
  std::vector<std::pair<uint64_t, std::shared_ptr<staged_file>>> dirty;
  for (auto& [ino, s] : _ctx.staged) {
    if (s->uploaded != s->version && !s->unlinked) {
      dirty.emplace_back(ino, s);
    }
  }
  for (auto& [ino, s] : dirty) {
    _ctx.background.spawn(upload_on_release(ino, s));
  }
}

}  // namespace ossuring::fs
