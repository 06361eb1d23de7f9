// filesystem, writes (lazy mode): create, open for writing, write, flush, truncate, mkdir,
// unlink, rmdir and rename (docs/semantics.md "Writes"); staging and uploads are in
// filesystem_upload.cc.
#include <fcntl.h>
#include <linux/fs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/log.hh"
#include "fs/detail/async.hh"
#include "fs/detail/fs_util.hh"
#include "fs/detail/staging.hh"
#include "fs/errors.hh"
#include "fs/filesystem.hh"

namespace ossuring::fs {

using namespace detail;

// ---- file operations ----

task<result<create_reply>> filesystem::create(uint64_t parent, std::string_view name) {
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
  uint64_t ino = _inodes.intern(parent, key, a, now() + _opts.attr_timeout);
  _inodes.add_lookup(ino);
  (*s)->version = 1;  // an empty file is still a file: uploaded at its first flush
  (*s)->handles = 1;
  if (auto old = _staged.find(ino); old != _staged.end()) {
    old->second->unlinked = true;  // replaced: the older staged copy is never uploaded
  }
  _staged[ino] = *s;
  uint64_t fh = _next_fh++;
  _writers[fh] = *s;
  listing_put(parent, name, &a);
  _negative.erase(key);
  co_return create_reply{make_entry(ino, a), fh};
}

task<result<std::shared_ptr<filesystem::staged_file>>> filesystem::staged_for(uint64_t ino,
                                                                              uint64_t keep) {
  if (!_opts.writable || _opts.mode != fs_mode::lazy) {
    co_return erofs();
  }
  auto n = resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  if (n->attrs.is_dir) {
    co_return make_error(EISDIR, "is a directory");
  }
  if (auto it = _staged.find(ino); it != _staged.end()) {
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
  if (auto again = _staged.find(ino); again != _staged.end()) {
    co_return again->second;  // another open staged it while this one waited
  }
  _staged[ino] = s;
  co_return s;
}

task<result<open_reply>> filesystem::open_for_write(uint64_t ino, int flags) {
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
  rep.fh = _next_fh++;
  _writers[rep.fh] = *s;
  co_return rep;
}

task<result<size_t>> filesystem::write(uint64_t ino, uint64_t fh, uint64_t offset,
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
  if (lazy_inode* i = _inodes.get(ino)) {
    i->attrs.size = s.size;
  }
  stream_parts(sp);
  co_return data.size();
}

task<status> filesystem::flush(uint64_t ino, uint64_t fh) {
  auto it = _writers.find(fh);
  if (it == _writers.end()) {
    co_return status{};  // a read handle: nothing to write
  }
  // A new file closed before anything was written is uploaded empty here, although a shell's
  // `> file` closes a duplicate fd before writing (a second PutObject follows): deferring it
  // to RELEASE, which close(2) does not wait for, would let `touch f` return before f exists.
  const staged_file& s = *it->second;
  if (_opts.background_upload && _background_uploads < _opts.background_uploads &&
      s.uploaded != s.version && !s.unlinked && !_closing) {
    ++_background_uploads;
    _background->spawn(upload_in_background(ino, it->second));
    co_return status{};
  }
  co_return co_await upload(ino, it->second);
}

task<status> filesystem::fsync(uint64_t ino, uint64_t fh) {
  auto it = _writers.find(fh);
  if (it == _writers.end()) {
    co_return status{};
  }
  co_return co_await upload(ino, it->second);  // waits for a background upload running first
}

task<result<attr_reply>> filesystem::setattr(uint64_t ino, std::optional<uint64_t> size) {
  if (!size) {
    co_return co_await getattr(ino);  // mode, owner and times are not stored in OSS
  }
  auto staged = co_await staged_for(ino, *size);
  if (!staged) {
    co_return std::move(staged).err();
  }
  std::shared_ptr<staged_file> s = *staged;
  if (::ftruncate(s->fd, static_cast<off_t>(*size)) != 0) {
    co_return sys_error(errno, "resizing the staged file");
  }
  if (s->size != *size) {
    s->size = *size;
    ++s->version;
    s->in_order = false;
  }
  if (lazy_inode* i = _inodes.get(ino)) {
    i->attrs.size = *size;
  }
  if (s->handles == 0) {
    // truncate(2) without an open file: the change is uploaded now, as close would.
    status st = co_await upload(ino, s);
    if (auto it = _staged.find(ino); it != _staged.end() && it->second == s && s->handles == 0) {
      _staged.erase(it);
    }
    if (!st) {
      co_return std::move(st).err();
    }
  }
  co_return co_await getattr(ino);
}

// ---- directories and names ----

task<result<entry_reply>> filesystem::mkdir(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string file_key = (*p)->key + std::string(name);
  const std::string key = file_key + "/";
  // A directory is a zero-byte object named "name/", as ossfs and the OSS console make them.
  auto put = co_await _client.put_object(key, {});
  if (!put) {
    co_return to_fs_error(std::move(put).err());
  }
  object_attrs a;
  a.is_dir = true;
  uint64_t ino = _inodes.intern(parent, key, a, now() + _opts.attr_timeout);
  _inodes.add_lookup(ino);
  if (lazy_inode* d = _inodes.get(ino)) {
    // Empty by construction: its listing is known without a request.
    auto empty = std::make_shared<dir_listing>();
    empty->expiry = now() + _opts.attr_timeout;
    d->listing = empty;
    d->listing_expiry = empty->expiry;
  }
  listing_put(parent, name, &a);
  _negative.erase(file_key);
  co_return make_entry(ino, a);
}

task<status> filesystem::unlink(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string key = (*p)->key + std::string(name);
  uint64_t ino = _inodes.find(key);
  std::shared_ptr<staged_file> staged;
  if (auto it = _staged.find(ino); ino != 0 && it != _staged.end()) {
    staged = it->second;
    // No upload may start from now on, and one running (a background upload after close) must
    // end before the delete, or it would bring the object back.
    staged->unlinked = true;
    co_await upload_settled(*staged);
    if (staged->stream) {
      _background->spawn(stream_abort(std::move(staged->stream)));
    }
  }
  // A file created but never uploaded exists only here; otherwise OSS deletes it (and answers
  // success for a key that is already gone).
  if (!staged || staged->in_oss) {
    status st = co_await _client.delete_object(key);
    if (!st) {
      if (staged) {
        staged->unlinked = false;  // still there: its changes are uploaded as before
      }
      co_return to_fs_error(std::move(st).err());
    }
  }
  if (staged) {
    staged->unlinked = true;  // open handles go on writing into a file nobody can see
    _staged.erase(ino);
  }
  if (ino != 0) {
    _inodes.unbind(ino);
  }
  listing_put(parent, name, nullptr);
  _negative.insert(key, now());
  co_return status{};
}

task<status> filesystem::rmdir(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string key = (*p)->key + std::string(name) + "/";
  for (const auto& [ino, s] : _staged) {
    if (!s->unlinked && s->key.starts_with(key)) {
      co_return make_error(ENOTEMPTY, "directory not empty: " + key);
    }
  }
  // Two keys tell: the directory's own marker object, and anything else means not empty.
  oss::list_request req{key, "", "", "", 2};
  ++_counters.list_requests;
  auto page = co_await _client.list_objects_v2(req);
  if (!page) {
    co_return to_fs_error(std::move(page).err());
  }
  for (const auto& o : page->objects) {
    if (o.key != key) {
      co_return make_error(ENOTEMPTY, "directory not empty: " + key);
    }
  }
  if (page->objects.empty()) {
    co_return enoent(key);
  }
  status st = co_await _client.delete_object(key);
  if (!st) {
    co_return to_fs_error(std::move(st).err());
  }
  if (uint64_t ino = _inodes.find(key); ino != 0) {
    _inodes.unbind(ino);
  }
  listing_put(parent, name, nullptr);
  _negative.insert((*p)->key + std::string(name), now());
  co_return status{};
}

task<status> filesystem::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                                std::string_view new_name, unsigned flags) {
  if ((flags & ~unsigned{RENAME_NOREPLACE}) != 0) {
    co_return make_error(EINVAL, "rename flags other than RENAME_NOREPLACE are not supported");
  }
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  auto q = writable_dir(new_parent, new_name);
  if (!q) {
    co_return std::move(q).err();
  }
  const std::string from = (*p)->key + std::string(name);
  const std::string to = (*q)->key + std::string(new_name);
  if (_inodes.find(from + "/") != 0 && _inodes.find(from) == 0) {
    // OSS has no directories to rename: every key under it would be copied and deleted, which
    // is not atomic. EXDEV makes mv(1) do exactly that, file by file, where the user sees it.
    co_return make_error(EXDEV, "directories are not renamed in place: " + from);
  }
  if (from == to) {
    co_return status{};
  }
  if (flags & RENAME_NOREPLACE) {
    auto meta = co_await _client.get_object_meta(to);
    if (meta) {
      co_return make_error(EEXIST, "exists: " + to);
    }
    if (errno_for(meta.err()) != ENOENT) {
      co_return to_fs_error(std::move(meta).err());
    }
  }
  uint64_t ino = _inodes.find(from);
  std::shared_ptr<staged_file> staged;
  if (auto it = _staged.find(ino); ino != 0 && it != _staged.end()) {
    staged = it->second;
    if (status st = co_await upload(ino, staged); !st) {  // the copy must see the latest bytes
      co_return st;
    }
  }
  const uint64_t version_copied = staged ? staged->version : 0;
  bool rewritten = false;
  uint64_t known_size = 0;  // unknown: CopyObject is tried, and its refusal checked
  if (staged) {
    known_size = staged->size;
  } else if (lazy_inode* i = _inodes.get(ino); ino != 0 && i != nullptr) {
    known_size = i->attrs.size;
  }
  const uint64_t cached_size = known_size;
  auto copied = co_await copy_for_rename(from, to, known_size);
  if (!copied) {
    co_return to_fs_error(std::move(copied).err());
  }
  if (staged) {
    // A close or fsync during the copy may be uploading to the old name, which the delete
    // below removes: it must land before the delete, not after it (the old name would come
    // back). Every later upload goes to the new name, and what was uploaded to the old one
    // since the copy counts as not uploaded (a part stream begun under it is dropped by its
    // key check).
    co_await upload_settled(*staged);
    staged->key = to;
    if (staged->version != version_copied) {
      staged->uploaded = 0;
    }
  }
  if (status st = co_await _client.delete_object(from); !st) {
    // Both names now exist: say so rather than pretend the rename happened.
    log_warn("rename_delete_failed", {{"from", from},
                                      {"to", to},
                                      {"error", st.err().message},
                                      {"request_id", st.err().request_id}});
    if (staged) {
      // The file keeps its old name, whose object may be older than its bytes (they may
      // have gone to the new name meanwhile): the next flush uploads them there.
      co_await upload_settled(*staged);
      staged->key = from;
      staged->uploaded = 0;
    }
    co_return to_fs_error(std::move(st).err());
  }
  object_attrs a;
  if (lazy_inode* i = _inodes.get(ino); ino != 0 && i != nullptr) {
    a = i->attrs;
  }
  a.etag = copied->etag.empty() ? a.etag : copied->etag;
  if (known_size != cached_size) {
    a.size = known_size;  // the object changed size behind the mount: describe the copy
  }
  if (uint64_t old = _inodes.find(to); old != 0) {
    if (auto it = _staged.find(old); it != _staged.end()) {
      it->second->unlinked = true;  // replaced by the rename
      _staged.erase(it);
    }
  }
  if (ino != 0) {
    _inodes.rebind(ino, new_parent, to);
    if (lazy_inode* i = _inodes.get(ino); i != nullptr) {
      // Reads name the object by ETag (If-Match) and check its size: a copy in parts has a new
      // ETag, and an object that changed behind the mount another size.
      i->attrs.etag = a.etag;
      i->attrs.size = a.size;
      i->attr_expiry = now() + _opts.attr_timeout;
    }
    if (staged) {
      // Written during the copy or the delete (mmap writeback, a writer on another fd) and
      // not uploaded to the new name yet: uploaded below.
      rewritten = staged->uploaded != staged->version;
    }
  }
  listing_put(parent, name, nullptr);
  listing_put(new_parent, new_name, &a);
  _negative.insert(from, now());
  _negative.erase(to);
  if (rewritten) {
    staged->uploaded = 0;
    _staged.emplace(ino, staged);  // kept for a later flush or the unmount if this fails
    if (status st = co_await upload(ino, staged); !st) {
      log_warn("rename_upload_failed",
               {{"key", to}, {"error", st.err().message}, {"request_id", st.err().request_id}});
    }
  }
  co_return status{};
}

}  // namespace ossuring::fs
