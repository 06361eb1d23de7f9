// writer, names: mkdir (a zero-byte "name/" object), unlink, rmdir, and rename (a server-side
// copy, then a delete of the old name; directories answer EXDEV).
#include <linux/fs.h>

#include "core/log.hh"
#include "fs/data/writer.hh"
#include "fs/detail/fs_util.hh"
#include "fs/errors.hh"

namespace ossuring::fs {

using detail::enoent;

task<result<entry_reply>> writer::mkdir(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string file_key = (*p)->key + std::string(name);
  const std::string key = file_key + "/";
  // A directory is a zero-byte object named "name/", as ossfs and the OSS console make them.
  auto put = co_await _ctx.client.put_object(key, {});
  if (!put) {
    co_return to_fs_error(std::move(put).err());
  }
  object_attrs a;
  a.is_dir = true;
  uint64_t ino = _lazy->inodes().intern(parent, key, a, _ctx.now() + _ctx.opts.attr_timeout);
  _lazy->inodes().add_lookup(ino);
  if (lazy_inode* d = _lazy->inodes().get(ino)) {
    // Empty by construction: its listing is known without a request.
    auto empty = std::make_shared<dir_listing>();
    empty->expiry = _ctx.now() + _ctx.opts.attr_timeout;
    d->listing = empty;
    d->listing_expiry = empty->expiry;
  }
  _lazy->listing_put(parent, name, &a);
  _lazy->negative().erase(file_key);
  co_return _ctx.make_entry(ino, a);
}

task<status> writer::unlink(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string key = (*p)->key + std::string(name);
  uint64_t ino = _lazy->inodes().find(key);
  std::shared_ptr<staged_file> staged;
  if (auto it = _ctx.staged.find(ino); ino != 0 && it != _ctx.staged.end()) {
    staged = it->second;
    // No upload may start from now on, and one running (a background upload after close) must
    // end before the delete, or it would bring the object back.
    staged->unlinked = true;
    co_await upload_settled(*staged);
    if (staged->stream) {
      _ctx.background.spawn(stream_abort(std::move(staged->stream)));
    }
  }
  // A file created but never uploaded exists only here; otherwise OSS deletes it (and answers
  // success for a key that is already gone).
  if (!staged || staged->in_oss) {
    status st = co_await _ctx.client.delete_object(key);
    if (!st) {
      if (staged) {
        staged->unlinked = false;  // still there: its changes are uploaded as before
      }
      co_return to_fs_error(std::move(st).err());
    }
  }
  if (staged) {
    staged->unlinked = true;  // open handles go on writing into a file nobody can see
    _ctx.staged.erase(ino);
  }
  if (ino != 0) {
    _lazy->inodes().unbind(ino);
  }
  _lazy->listing_put(parent, name, nullptr);
  _lazy->negative().insert(key, _ctx.now());
  co_return status{};
}

task<status> writer::rmdir(uint64_t parent, std::string_view name) {
  auto p = writable_dir(parent, name);
  if (!p) {
    co_return std::move(p).err();
  }
  const std::string key = (*p)->key + std::string(name) + "/";
  for (const auto& [ino, s] : _ctx.staged) {
    if (!s->unlinked && s->key.starts_with(key)) {
      co_return make_error(ENOTEMPTY, "directory not empty: " + key);
    }
  }
  // Two keys tell: the directory's own marker object, and anything else means not empty.
  oss::list_request req{key, "", "", "", 2};
  ++_ctx.counters.list_requests;
  auto page = co_await _ctx.client.list_objects_v2(req);
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
  status st = co_await _ctx.client.delete_object(key);
  if (!st) {
    co_return to_fs_error(std::move(st).err());
  }
  if (uint64_t ino = _lazy->inodes().find(key); ino != 0) {
    _lazy->inodes().unbind(ino);
  }
  _lazy->listing_put(parent, name, nullptr);
  _lazy->negative().insert((*p)->key + std::string(name), _ctx.now());
  co_return status{};
}

task<status> writer::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
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
  if (_lazy->inodes().find(from + "/") != 0 && _lazy->inodes().find(from) == 0) {
    // OSS has no directories to rename: every key under it would be copied and deleted, which
    // is not atomic. EXDEV makes mv(1) do exactly that, file by file, where the user sees it.
    co_return make_error(EXDEV, "directories are not renamed in place: " + from);
  }
  if (from == to) {
    co_return status{};
  }
  if (flags & RENAME_NOREPLACE) {
    auto meta = co_await _ctx.client.get_object_meta(to);
    if (meta) {
      co_return make_error(EEXIST, "exists: " + to);
    }
    if (errno_for(meta.err()) != ENOENT) {
      co_return to_fs_error(std::move(meta).err());
    }
  }
  uint64_t ino = _lazy->inodes().find(from);
  std::shared_ptr<staged_file> staged;
  if (auto it = _ctx.staged.find(ino); ino != 0 && it != _ctx.staged.end()) {
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
  } else if (lazy_inode* i = _lazy->inodes().get(ino); ino != 0 && i != nullptr) {
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
  if (status st = co_await _ctx.client.delete_object(from); !st) {
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
  if (lazy_inode* i = _lazy->inodes().get(ino); ino != 0 && i != nullptr) {
    a = i->attrs;
  }
  a.etag = copied->etag.empty() ? a.etag : copied->etag;
  if (known_size != cached_size) {
    a.size = known_size;  // the object changed size behind the mount: describe the copy
  }
  if (uint64_t old = _lazy->inodes().find(to); old != 0) {
    if (auto it = _ctx.staged.find(old); it != _ctx.staged.end()) {
      it->second->unlinked = true;  // replaced by the rename
      _ctx.staged.erase(it);
    }
  }
  if (ino != 0) {
    _lazy->inodes().rebind(ino, new_parent, to);
    if (lazy_inode* i = _lazy->inodes().get(ino); i != nullptr) {
      // Reads name the object by ETag (If-Match) and check its size: a copy in parts has a new
      // ETag, and an object that changed behind the mount another size.
      i->attrs.etag = a.etag;
      i->attrs.size = a.size;
      i->attr_expiry = _ctx.now() + _ctx.opts.attr_timeout;
    }
    if (staged) {
      // Written during the copy or the delete (mmap writeback, a writer on another fd) and
      // not uploaded to the new name yet: uploaded below.
      rewritten = staged->uploaded != staged->version;
    }
  }
  _lazy->listing_put(parent, name, nullptr);
  _lazy->listing_put(new_parent, new_name, &a);
  _lazy->negative().insert(from, _ctx.now());
  _lazy->negative().erase(to);
  if (rewritten) {
    staged->uploaded = 0;
    _ctx.staged.emplace(ino, staged);  // kept for a later flush or the unmount if this fails
    if (status st = co_await upload(ino, staged); !st) {
      log_warn("rename_upload_failed",
               {{"key", to}, {"error", st.err().message}, {"request_id", st.err().request_id}});
    }
  }
  co_return status{};
}

}  // namespace ossuring::fs
