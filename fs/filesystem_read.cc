// filesystem, file data: whole-object GETs shared by concurrent opens into the blob store, and
// ranged GETs with sequential read-ahead for large objects.
#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "fs/detail/async.hh"
#include "fs/errors.hh"
#include "fs/filesystem.hh"
#include "http/oss/crc64.hh"

namespace ossuring::fs {

struct filesystem::fetch {
  detail::async_event done;
  std::optional<result<std::shared_ptr<blob>>> res;
};

// ---- files ----

task<result<std::shared_ptr<blob>>> filesystem::fetch_whole(const std::string& key,
                                                            const std::string& etag,
                                                            uint64_t size) {
  const std::string id = blob_store::blob_id(etag.empty() ? key : etag, size);
  if (!etag.empty()) {
    if (auto b = _blobs->find(id)) {
      ++_counters.blob_hits;
      co_return b;
    }
  }
  if (auto it = _fetching.find(id); it != _fetching.end()) {
    // Another open is already fetching this object: wait for its GET instead of sending one.
    std::shared_ptr<fetch> f = it->second;
    ++_counters.shared_fetch_waits;
    co_await f->done.wait();
    co_return *f->res;
  }
  auto f = std::make_shared<fetch>();
  _fetching.emplace(id, f);
  auto finish = [&](result<std::shared_ptr<blob>> r) {
    f->res.emplace(r);
    _fetching.erase(id);
    f->done.set();
    return r;
  };
  std::vector<std::byte> buf(size);
  result<oss::get_result> r = oss::get_result{};
  if (size > 0) {
    oss::get_request req;
    req.key = key;
    req.if_match = etag;
    ++_counters.get_requests;
    r = co_await _client.get_object(req, buf);
  }
  if (!r) {
    co_return finish(to_fs_error(std::move(r).err()));
  }
  if (size > 0) {
    if (!etag.empty() && !r->etag.empty() && r->etag != etag) {
      co_return finish(make_error(
          ESTALE, "object " + key + " changed (ETag " + r->etag + ", expected " + etag + ")",
          r->request_id));
    }
    if (r->bytes != size || (r->object_size != 0 && r->object_size != size)) {
      co_return finish(make_error(ESTALE, "object " + key + " changed size", r->request_id));
    }
    if (_opts.verify_crc64 && r->crc64) {
      uint64_t c = oss::crc64_update(oss::crc64_init, buf.data(), buf.size());
      if (c != *r->crc64) {
        co_return finish(make_error(EIO, "CRC-64 mismatch on " + key, r->request_id));
      }
    }
  }
  auto stored = _blobs->store(id, std::move(buf));
  if (!stored) {
    co_return finish(std::move(stored).err());
  }
  co_return finish(std::move(*stored));
}

task<result<open_reply>> filesystem::open(uint64_t ino, int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    co_return make_error(EROFS, "read-only file system");
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
  if (f.size <= _opts.small_file_threshold) {
    auto b = co_await fetch_whole(f.key, f.etag, f.size);
    if (!b) {
      co_return std::move(b).err();
    }
    f.whole = std::move(*b);
    rep.backing_fd = f.whole->fd();
  }
  rep.keep_cache = !f.etag.empty();
  rep.fh = _next_fh++;
  _files.emplace(rep.fh, std::move(f));
  co_return rep;
}

task<result<size_t>> filesystem::read_large(open_file& f, uint64_t offset,
                                            std::span<std::byte> dest) {
  size_t done = 0;
  while (done < dest.size() && offset + done < f.size) {
    uint64_t pos = offset + done;
    if (pos >= f.window_off && pos < f.window_off + f.window.size()) {
      size_t n = std::min<uint64_t>(dest.size() - done, f.window_off + f.window.size() - pos);
      std::memcpy(dest.data() + done, f.window.data() + (pos - f.window_off), n);
      done += n;
      continue;
    }
    // Sequential (continues the last window): grow the read-ahead; a seek resets it.
    bool sequential = !f.window.empty() && pos == f.window_off + f.window.size();
    f.readahead = sequential ? std::min(f.readahead * 2, _opts.readahead_max) : _opts.readahead_min;
    uint64_t want =
        std::min<uint64_t>(std::max<uint64_t>(dest.size() - done, f.readahead), f.size - pos);
    std::vector<std::byte> buf(want);
    oss::get_request req;
    req.key = f.key;
    req.offset = pos;
    req.length = want;
    req.if_match = f.etag;
    ++_counters.get_requests;
    auto r = co_await _client.get_object(req, buf);
    if (!r) {
      co_return to_fs_error(std::move(r).err());
    }
    if (!f.etag.empty() && !r->etag.empty() && r->etag != f.etag) {
      co_return make_error(ESTALE, "object " + f.key + " changed", r->request_id);
    }
    if (r->bytes != want) {
      co_return make_error(ESTALE, "object " + f.key + " shrank", r->request_id);
    }
    f.window = std::move(buf);
    f.window_off = pos;
  }
  co_return done;
}

task<result<size_t>> filesystem::read(uint64_t ino, uint64_t fh, uint64_t offset,
                                      std::span<std::byte> dest) {
  auto it = _files.find(fh);
  if (it == _files.end() || it->second.ino != ino) {
    co_return make_error(EBADF, "bad file handle");
  }
  open_file& f = it->second;
  if (f.whole) {
    co_return f.whole->read(offset, dest);
  }
  co_return co_await read_large(f, offset, dest);
}

void filesystem::release(uint64_t, uint64_t fh) {
  _files.erase(fh);
}

}  // namespace ossuring::fs
