// reader: opens for reading, small objects read from their blob (pinned or fetched again),
// the dispatch of READs by kind of handle, and the memory of failed reads.
#include "fs/data/reader.hh"

#include <algorithm>

namespace ossuring::fs {

reader::~reader() {
  // Open files' read-ahead chunks count their bytes in the context's counters: they go first.
  _files.clear();
}

task<result<open_reply>> reader::open(uint64_t ino, abort_source* abort, bool pin) {
  auto n = _meta.resolve(ino);
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
  if (!_ctx.opts.direct && f.size <= _ctx.opts.small_file_threshold) {
    // The GET this open waits on goes out before any prefetch the open triggers.
    std::shared_ptr<whole_fetch> fe = _fetcher.start(f.key, f.etag, f.size);
    _prefetch.after_open(ino);
    if (!co_await fe->done.wait(abort)) {
      ++_ctx.counters.interrupted;
      co_return interrupted("open of " + f.key);
    }
    if (!*fe->res) {
      co_return fe->res->err();
    }
    f.small = true;
    if (pin) {
      f.whole = **fe->res;
      if (_ctx.opts.backing_files) {
        rep.backing_fd = f.whole->fd();
      }
    } else {
      f.unpinned = **fe->res;
    }
  } else if (!_ctx.opts.direct) {
    _prefetch.after_open(ino);
  }
  rep.keep_cache = !_ctx.opts.direct && !f.etag.empty();
  rep.fh = _ctx.next_fh++;
  _files.emplace(rep.fh, std::move(f));
  co_return rep;
}

task<result<size_t>> reader::read(uint64_t ino, uint64_t fh, uint64_t offset,
                                  std::span<std::byte> dest, abort_source* abort) {
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
  } else if (_ctx.opts.direct) {
    r = co_await read_direct(f, offset, dest, abort);  // uses `f` only before its GET
  } else {
    r = co_await read_large(fh, offset, dest, abort);
  }
  if (!r) {
    remember_failure(fh, r.err(), offset, offset + dest.size());
  }
  co_return r;
}

task<result<size_t>> reader::read_unpinned(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                                           abort_source* abort) {
  open_file& f = _files.at(fh);
  std::shared_ptr<blob> b = f.unpinned.lock();
  if (!b) {
    // Evicted since the open: fetch it again (the ETag keeps it the same object).
    const std::string key = f.key;
    std::shared_ptr<whole_fetch> fe = _fetcher.start(f.key, f.etag, f.size);
    if (!co_await fe->done.wait(abort)) {
      ++_ctx.counters.interrupted;
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

void reader::remember_failure(uint64_t fh, const error& e, uint64_t off, uint64_t end) {
  if (_ctx.opts.failed_read_memory.count() <= 0 || e.code == EINTR || e.code == ECANCELED ||
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
  f.failed_until = _ctx.now() + _ctx.opts.failed_read_memory;
}

std::optional<error> reader::recent_failure(open_file& f, uint64_t off, uint64_t len) {
  if (!f.failed) {
    return std::nullopt;
  }
  if (_ctx.now() >= f.failed_until) {
    f.failed.reset();
    return std::nullopt;
  }
  if (off >= f.failed_end || off + std::max<uint64_t>(len, 1) <= f.failed_off) {
    return std::nullopt;
  }
  ++_ctx.counters.reads_failed_again;
  return f.failed;
}

void reader::release(uint64_t fh) {
  if (auto it = _files.find(fh); it != _files.end()) {
    cancel_chunks(it->second, true);
    _files.erase(it);
  }
}

bool reader::is_current(uint64_t fh) {
  auto it = _files.find(fh);
  return it != _files.end() && _meta.describes(it->second.ino, it->second.etag, it->second.size);
}

void reader::cancel_all() {
  for (auto& [fh, f] : _files) {
    cancel_chunks(f, true);  // read-ahead nobody will read: end those GETs now
  }
}

}  // namespace ossuring::fs
