// filesystem, file data: whole-object GETs shared by concurrent opens into the blob store, ranged
// GETs with sequential read-ahead for large objects, direct-mode ranged reads. Prefetch across
// files: filesystem_prefetch.cc.
#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "core/log.hh"
#include "fs/detail/async.hh"
#include "fs/detail/fetch.hh"
#include "fs/errors.hh"
#include "fs/filesystem.hh"
#include "http/oss/crc64.hh"

namespace ossuring::fs {

namespace {

error interrupted(const std::string& what) {
  return make_error(EINTR, what + " interrupted");
}

// The client reports an aborted request as ECANCELED; to the process it was an interrupted call.
error read_error(error e, abort_source* abort) {
  if (abort && abort->aborted()) {
    e.code = EINTR;
    return e;
  }
  return to_fs_error(std::move(e));
}

}  // namespace

// ---- whole objects ----

std::shared_ptr<filesystem::fetch> filesystem::start_fetch(const std::string& key,
                                                           const std::string& etag, uint64_t size,
                                                           bool prefetch) {
  const std::string id = blob_store::blob_id(etag.empty() ? key : etag, size);
  auto f = std::make_shared<fetch>();
  if (!etag.empty()) {
    if (auto b = _blobs->find(id)) {
      ++_counters.blob_hits;
      f->res.emplace(std::move(b));
      f->done.set();
      return f;
    }
  }
  if (auto it = _fetching.find(id); it != _fetching.end()) {
    // Another open (or prefetch) is already fetching this object: wait for its GET.
    ++_counters.shared_fetch_waits;
    return it->second;
  }
  // The GET runs in the background so an interrupted opener can stop waiting while other
  // openers (and the cache) still get the object.
  _fetching.emplace(id, f);
  _background->spawn([](filesystem& fs, std::shared_ptr<fetch> fe, std::string k, std::string e,
                        uint64_t sz, std::string bid, bool pf) -> task<void> {
    fe->res.emplace(co_await fs.get_whole(k, e, sz, bid, pf, &fe->cancel));
    fs._fetching.erase(bid);
    fe->done.set();
  }(*this, f, key, etag, size, id, prefetch));
  return f;
}

task<result<std::shared_ptr<blob>>> filesystem::get_whole(const std::string& key,
                                                          const std::string& etag, uint64_t size,
                                                          const std::string& id, bool prefetch,
                                                          abort_source* cancel) {
  // GETs in flight hold budget: past it they wait for room (prefetch already at half of it, so
  // opens a process waits on keep their share), then evict to fit as the bytes will arrive.
  uint64_t limit = _blobs->limit();
  if (_opts.fetch_buffer_limit > 0 && (limit == 0 || _opts.fetch_buffer_limit < limit)) {
    limit = _opts.fetch_buffer_limit;
  }
  const uint64_t cap = prefetch ? limit / 2 : limit;
  while (limit > 0 && _blobs->reserved() > 0 && _blobs->reserved() + size > cap) {
    std::shared_ptr<detail::async_event> room = _room;
    if (!co_await room->wait(cancel)) {
      co_return make_error(ECANCELED, "fetch of " + key + " abandoned");
    }
  }
  _blobs->reserve(size);
  std::vector<std::byte> buf(size);
  result<oss::get_result> r = oss::get_result{};
  if (size > 0) {
    oss::get_request req;
    req.key = key;
    req.if_match = etag;
    ++_counters.get_requests;
    r = co_await _client.get_object(req, buf, cancel);
  }
  auto fail = [&](error e) -> result<std::shared_ptr<blob>> {
    _blobs->unreserve(size);
    signal_room();
    return e;
  };
  if (!r) {
    co_return fail(to_fs_error(std::move(r).err()));
  }
  if (size > 0) {
    if (!etag.empty() && !r->etag.empty() && r->etag != etag) {
      co_return fail(make_error(
          ESTALE, "object " + key + " changed (ETag " + r->etag + ", expected " + etag + ")",
          r->request_id));
    }
    if (r->bytes != size || (r->object_size != 0 && r->object_size != size)) {
      co_return fail(make_error(ESTALE, "object " + key + " changed size", r->request_id));
    }
    if (_opts.verify_crc64 && r->crc64) {
      uint64_t c = oss::crc64_update(oss::crc64_init, buf.data(), buf.size());
      if (c != *r->crc64) {
        co_return fail(make_error(EIO, "CRC-64 mismatch on " + key, r->request_id));
      }
    }
  }
  // Without an ETag the id is the key: an older version cached under it must not be served.
  auto stored = _blobs->store(id, std::move(buf), true, !etag.empty());
  signal_room();
  co_return stored;
}

void filesystem::signal_room() {
  std::shared_ptr<detail::async_event> room = std::exchange(_room, nullptr);
  _room = std::make_shared<detail::async_event>();
  room->set();
}

task<result<open_reply>> filesystem::open(uint64_t ino, int flags, abort_source* abort, bool pin) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    co_return co_await open_for_write(ino, flags);
  }
  if (auto st = _staged.find(ino); st != _staged.end()) {
    // Being written here: readers see the staged bytes, as they would on a local disk.
    ++st->second->handles;
    open_reply rep;
    rep.fh = _next_fh++;
    _writers[rep.fh] = st->second;
    co_return rep;
  }
  auto n = resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  if (n->attrs.is_dir) {
    co_return make_error(EISDIR, "is a directory");
  }
  open_file f;
  f.ino = ino;
  f.key = n->key;
  f.etag = n->attrs.etag;
  f.size = n->attrs.size;
  open_reply rep;
  if (!_opts.direct && f.size <= _opts.small_file_threshold) {
    // The GET this open waits on goes out before any prefetch the open triggers.
    std::shared_ptr<fetch> fe = start_fetch(f.key, f.etag, f.size);
    prefetch_after_open(ino);
    if (!co_await fe->done.wait(abort)) {
      ++_counters.interrupted;
      co_return interrupted("open of " + f.key);
    }
    if (!*fe->res) {
      co_return fe->res->err();
    }
    f.small = true;
    if (pin) {
      f.whole = **fe->res;
      rep.backing_fd = f.whole->fd();
    } else {
      f.unpinned = **fe->res;
    }
  } else if (!_opts.direct) {
    prefetch_after_open(ino);
  }
  rep.keep_cache = !_opts.direct && !f.etag.empty();
  rep.fh = _next_fh++;
  _files.emplace(rep.fh, std::move(f));
  co_return rep;
}

// ---- large objects ----

std::shared_ptr<filesystem::chunk> filesystem::issue_chunk(open_file& f, uint64_t off,
                                                           uint64_t len) {
  auto c = std::make_shared<chunk>(off, len, _counters.buffer_bytes);
  f.chunks.push_back(c);
  ++_counters.get_requests;
  _background->spawn([](filesystem& fs, std::shared_ptr<chunk> ch, std::string key,
                        std::string etag) -> task<void> {
    oss::get_request req;
    req.key = key;
    req.offset = ch->off;
    req.length = ch->data.size();
    req.if_match = etag;
    auto r = co_await fs._client.get_object(req, ch->data, &ch->cancel);
    if (!r) {
      ch->err = std::move(r).err();
    } else if (!etag.empty() && !r->etag.empty() && r->etag != etag) {
      ch->err = make_error(ESTALE, "object " + key + " changed", r->request_id);
    } else if (r->bytes != ch->data.size()) {
      ch->err = make_error(ESTALE, "object " + key + " shrank", r->request_id);
    } else {
      ch->object_crc = r->crc64;
    }
    ch->done.set();
  }(*this, c, f.key, f.etag));
  return c;
}

void filesystem::fill_ahead(open_file& f, uint64_t pos) {
  uint64_t end = f.chunks.empty() ? pos : f.chunks.back()->end();
  while (end < f.size && end < pos + f.window) {
    uint64_t len = std::min({_opts.readahead_chunk, f.window, f.size - end});
    if (_opts.buffer_limit > 0 && _counters.buffer_bytes + len > _opts.buffer_limit) {
      break;  // the memory budget is spent: read-ahead waits for the reader to catch up
    }
    issue_chunk(f, end, len);
    end += len;
  }
}

void filesystem::cancel_chunks(open_file& f, bool even_awaited) {
  // A chunk another read is waiting on keeps its GET (that read is no business of this one).
  // Taken out first: an abort that completes at once resumes its reader, which edits f.chunks.
  auto chunks = std::move(f.chunks);
  f.chunks.clear();
  f.last_chunk = nullptr;
  for (auto& c : chunks) {
    if (!c->done.is_set() && (even_awaited || c->readers == 0)) {
      c->cancel.request_abort();
    }
  }
}

task<result<size_t>> filesystem::read_large(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                                            abort_source* abort) {
  size_t done = 0;
  for (;;) {
    // Looked up again after every wait: RELEASE may have come meanwhile.
    auto it = _files.find(fh);
    if (it == _files.end()) {
      co_return make_error(EBADF, "file released during read");
    }
    open_file& f = it->second;
    if (done >= dest.size() || offset + done >= f.size) {
      break;
    }
    const uint64_t pos = offset + done;
    const uint64_t need = std::min<uint64_t>(dest.size() - done, f.size - pos);
    std::shared_ptr<chunk> c;
    for (const auto& k : f.chunks) {
      if (pos >= k->off && pos < k->end()) {
        c = k;
        break;
      }
    }
    if (!c) {
      // A miss: the first read, a seek, or a reader that outran the read-ahead. A sequential
      // reader (from the start, or continuing the last read or the last GET) gets a window
      // that doubles up to readahead_max; after a seek a read fetches just what the kernel asked
      // (random reads stay cheap) until it proves sequential again.
      const bool sequential = (pos == 0 && f.next_off == 0 && f.chunks.empty()) ||
                              pos == f.next_off ||
                              (!f.chunks.empty() && pos == f.chunks.back()->end());
      if (sequential) {
        std::erase_if(f.chunks, [&](const std::shared_ptr<chunk>& k) {
          if (k->off < pos) {
            return false;
          }
          if (!k->done.is_set() && k->readers == 0) {
            k->cancel.request_abort();
          }
          return true;
        });
        f.window = std::min(std::max(_opts.readahead_min, f.window * 2), _opts.readahead_max);
      } else {
        cancel_chunks(f, false);
        f.window = 0;
      }
      uint64_t len = std::min<uint64_t>(std::max(need, std::min(f.window, _opts.readahead_chunk)),
                                        f.size - pos);
      if (_opts.buffer_limit > 0) {
        // Within the memory budget a read still always gets what it asked for.
        uint64_t used = _counters.buffer_bytes;
        uint64_t room = used < _opts.buffer_limit ? _opts.buffer_limit - used : 0;
        len = std::max(need, std::min(len, room));
      }
      c = issue_chunk(f, pos, len);
      f.last_chunk = c.get();
    } else if (c.get() != f.last_chunk) {
      // The reader moved on into the next chunk: the access is sequential, widen the window.
      if (f.last_chunk && c->off > f.last_chunk->off) {
        f.window = std::min(f.window * 2, _opts.readahead_max);
      }
      f.last_chunk = c.get();
    }
    fill_ahead(f, pos);
    std::string key;  // for messages after a wait, when `f` may be gone
    if (!c->done.is_set()) {
      key = f.key;
      ++c->readers;
      bool ok = co_await c->done.wait(abort);
      --c->readers;
      if (!ok) {
        ++_counters.interrupted;
        if (auto again = _files.find(fh); again != _files.end()) {
          cancel_chunks(again->second, false);
        }
        co_return interrupted("read of " + key);
      }
    }
    auto again = _files.find(fh);
    if (again == _files.end()) {
      // Only noopen mode's implicit handle goes while a read waits: it is replaced when the
      // object was rewritten (fuse_ops), so this read's version is gone.
      co_return make_error(ESTALE, "object " + key + " changed during the read");
    }
    open_file& g = again->second;
    if (c->err) {
      error e = *c->err;
      std::erase(g.chunks, c);  // a retry fetches again
      co_return read_error(std::move(e), nullptr);
    }
    if (status checked = check_read_through(g, *c); !checked) {
      cancel_chunks(g, false);
      co_return std::move(checked).err();
    }
    size_t n = std::min<uint64_t>(need, c->end() - pos);
    std::memcpy(dest.data() + done, c->data.data() + (pos - c->off), n);
    done += n;
    g.next_off = pos + n;
    // Chunks wholly behind this read go, keeping one: concurrent kernel reads of the same
    // stream may arrive slightly out of order.
    while (g.chunks.size() >= 2 && g.chunks[1]->end() <= offset) {
      g.chunks.pop_front();
    }
  }
  co_return done;
}

task<result<size_t>> filesystem::read_direct(const open_file& f, uint64_t offset,
                                             std::span<std::byte> dest, abort_source* abort) {
  if (offset >= f.size || dest.empty()) {
    co_return size_t{0};
  }
  // Exactly the kernel's read: no read-ahead, nothing kept.
  const uint64_t want = std::min<uint64_t>(dest.size(), f.size - offset);
  oss::get_request req;
  req.key = f.key;
  req.offset = offset;
  req.length = want;
  req.if_match = f.etag;
  const std::string key = f.key;
  ++_counters.get_requests;
  auto r = co_await _client.get_object(req, dest.subspan(0, want), abort);
  if (!r) {
    if (abort && abort->aborted()) {
      ++_counters.interrupted;
    }
    co_return read_error(std::move(r).err(), abort);
  }
  if (r->bytes != want) {
    co_return make_error(ESTALE, "object " + key + " shrank", r->request_id);
  }
  co_return static_cast<size_t>(want);
}

status filesystem::check_read_through(open_file& f, const chunk& c) {
  if (!_opts.verify_crc64) {
    return {};
  }
  auto mismatch = [&](std::string what) -> status {
    ++_counters.crc64_mismatches;
    log_warn("crc64_mismatch", {{"key", f.key}, {"what", what}});
    error e = make_error(EIO, "CRC-64 mismatch on " + f.key + ": " + what);
    // Which bytes were wrong is unknown: every later read of this handle fails too.
    f.failed = e;
    f.failed_off = 0;
    f.failed_end = UINT64_MAX;
    f.failed_until = fs_clock::time_point::max();
    return e;
  };
  if (c.object_crc) {
    if (!f.object_crc) {
      f.object_crc = c.object_crc;
    } else if (*f.object_crc != *c.object_crc) {
      return mismatch("ranged answers give the object CRC-64 " + std::to_string(*f.object_crc) +
                      " and " + std::to_string(*c.object_crc));
    }
  }
  // Only a chunk that continues the bytes checked so far extends them (a seek leaves a gap
  // that nothing fills, and the object is then not checked).
  if (f.crc_next < c.off || f.crc_next >= c.end()) {
    return {};
  }
  const uint64_t from = f.crc_next - c.off;
  const uint64_t len = c.data.size() - from;
  uint64_t part = oss::crc64_update(oss::crc64_init, c.data.data() + from, len);
  f.crc = oss::crc64_combine(f.crc, part, len);
  f.crc_next = c.end();
  if (f.crc_next == f.size && f.object_crc && f.crc != *f.object_crc) {
    return mismatch("the " + std::to_string(f.size) + " bytes read in ranges have " +
                    std::to_string(f.crc) + ", the object " + std::to_string(*f.object_crc));
  }
  return {};
}

void filesystem::remember_failure(uint64_t fh, const error& e, uint64_t off, uint64_t end) {
  if (_opts.failed_read_memory.count() <= 0 || e.code == EINTR || e.code == ECANCELED ||
      e.code == EBADF) {
    return;
  }
  auto it = _files.find(fh);
  if (it == _files.end() || (it->second.failed && it->second.failed_end == UINT64_MAX)) {
    return;
  }
  open_file& f = it->second;
  f.failed = e;
  f.failed_off = off;
  f.failed_end = end;
  f.failed_until = now() + _opts.failed_read_memory;
}

std::optional<error> filesystem::recent_failure(open_file& f, uint64_t off, uint64_t len) {
  if (!f.failed) {
    return std::nullopt;
  }
  if (now() >= f.failed_until) {
    f.failed.reset();
    return std::nullopt;
  }
  if (off >= f.failed_end || off + std::max<uint64_t>(len, 1) <= f.failed_off) {
    return std::nullopt;
  }
  ++_counters.reads_failed_again;
  return f.failed;
}

task<result<size_t>> filesystem::read(uint64_t ino, uint64_t fh, uint64_t offset,
                                      std::span<std::byte> dest, abort_source* abort) {
  if (auto w = _writers.find(fh); w != _writers.end()) {
    co_return read_staged(*w->second, offset, dest);
  }
  auto it = _files.find(fh);
  if (it == _files.end() || it->second.ino != ino) {
    co_return make_error(EBADF, "bad file handle");
  }
  open_file& f = it->second;
  if (f.whole) {
    co_return f.whole->read(offset, dest);
  }
  if (std::optional<error> again = recent_failure(f, offset, dest.size())) {
    co_return std::move(*again);
  }
  result<size_t> r = size_t{0};
  if (f.small) {
    r = co_await read_unpinned(fh, offset, dest, abort);
  } else if (_opts.direct) {
    r = co_await read_direct(f, offset, dest, abort);  // uses `f` only before its GET
  } else {
    r = co_await read_large(fh, offset, dest, abort);
  }
  if (!r) {
    remember_failure(fh, r.err(), offset, offset + dest.size());
  }
  co_return r;
}

task<result<size_t>> filesystem::read_unpinned(uint64_t fh, uint64_t offset,
                                               std::span<std::byte> dest, abort_source* abort) {
  open_file& f = _files.at(fh);
  std::shared_ptr<blob> b = f.unpinned.lock();
  if (!b) {
    // Evicted since the open: fetch it again (the ETag keeps it the same object).
    const std::string key = f.key;
    std::shared_ptr<fetch> fe = start_fetch(f.key, f.etag, f.size);
    if (!co_await fe->done.wait(abort)) {
      ++_counters.interrupted;
      co_return interrupted("read of " + key);
    }
    if (!*fe->res) {
      co_return fe->res->err();
    }
    b = **fe->res;
    if (auto again = _files.find(fh); again != _files.end()) {
      again->second.unpinned = b;
    }
  }
  co_return b->read(offset, dest);
}

bool filesystem::is_current(uint64_t fh) {
  auto it = _files.find(fh);
  if (it == _files.end()) {
    return false;
  }
  if (_opts.mode == fs_mode::index) {
    return true;  // an index inode's object never changes: a refresh gives it a new inode
  }
  // Called for every daemon READ in noopen mode: compare attributes, build no key.
  const lazy_inode* i = _inodes.get(it->second.ino);
  return i && i->attrs.etag == it->second.etag && i->attrs.size == it->second.size;
}

void filesystem::release(uint64_t ino, uint64_t fh) {
  if (auto w = _writers.find(fh); w != _writers.end()) {
    std::shared_ptr<staged_file> s = std::move(w->second);
    _writers.erase(w);
    --s->handles;
    if (s->handles == 0 && s->uploaded != s->version && !s->unlinked) {
      // The last handle, changed after the last FLUSH (mmap, or a FLUSH that failed): upload in
      // the background, which close() of the file system waits for. With handles left, their
      // own closes upload.
      _background->spawn(upload_on_release(ino, std::move(s)));
    } else if (auto it = _staged.find(ino);
               it != _staged.end() && it->second == s && s->handles == 0 && !s->uploading) {
      _staged.erase(it);
    }
    return;
  }
  if (auto it = _files.find(fh); it != _files.end()) {
    cancel_chunks(it->second, true);
    _files.erase(it);
  }
}

}  // namespace ossuring::fs
