// writer, uploads: staged files (memfd or O_TMPFILE), filling them from OSS (or a blob of the
// same object), and uploading them with PutObject or a multipart upload.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/gate.hh"
#include "core/log.hh"
#include "fs/data/staging.hh"
#include "fs/data/writer.hh"
#include "fs/errors.hh"

namespace ossuring::fs {

using namespace detail;

result<std::shared_ptr<staged_file>> writer::new_stage(const std::string& key) {
  int fd = -1;
  if (!_ctx.opts.staging_dir.empty() && !_staging_in_memory) {
    fd = ::open(_ctx.opts.staging_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == ENOENT || errno == ENOTDIR ||
                   errno == EACCES)) {
      // A folder that cannot hold unnamed files (no O_TMPFILE support, missing): memory, said
      // once. ENOSPC and the like stay errors: they say the disk is full.
      log_warn("staging_in_memory",
               {{"dir", _ctx.opts.staging_dir}, {"error", std::strerror(errno)}});
      _staging_in_memory = true;
    } else if (fd < 0) {
      return sys_error(errno, "staging " + key + " in " + _ctx.opts.staging_dir);
    }
  }
  if (fd < 0) {
    fd = ::memfd_create("ossuring-staged", MFD_CLOEXEC);
    if (fd < 0) {
      return sys_error(errno, "staging " + key);
    }
  }
  auto s = std::make_shared<staged_file>();
  s->key = key;
  s->fd = fd;
  return s;
}

// ---- staged files ----

task<status> writer::fill_stage(staged_file& s, const std::string& key, uint64_t size,
                                const std::string& etag) {
  std::vector<std::byte> buf(static_cast<size_t>(std::min(size, stage_chunk)));
  if (!etag.empty() && size > 0) {
    if (std::shared_ptr<blob> b = _blobs.find(blob_store::blob_id(etag, size))) {
      // A local copy of exactly this object (read or written before): no GET. The GETs below
      // carry If-Match, so that a change made elsewhere since the ETag was learnt fails the
      // open (ESTALE) instead of being overwritten at the close; one GetObjectMeta asks OSS
      // the same.
      ++_ctx.counters.meta_requests;
      auto meta = co_await _ctx.client.get_object_meta(key);
      if (!meta) {
        co_return to_fs_error(std::move(meta).err());
      }
      if (meta->etag != etag || meta->size != size) {
        co_return make_error(ESTALE, "object " + key + " changed since it was looked up");
      }
      ++_ctx.counters.blob_hits;
      for (uint64_t off = 0; off < size;) {
        auto n = b->read(off, std::span(buf.data(), std::min<uint64_t>(buf.size(), size - off)));
        if (!n || *n == 0) {
          co_return n ? make_error(EIO, "short blob staging " + key) : std::move(n).err();
        }
        if (status st = pwrite_all(s.fd, std::span(buf.data(), *n), off); !st) {
          co_return st;
        }
        off += *n;
      }
      s.size = size;
      co_return status{};
    }
  }
  for (uint64_t off = 0; off < size;) {
    oss::get_request req;
    req.key = key;
    req.offset = off;
    req.length = std::min<uint64_t>(buf.size(), size - off);
    req.if_match = etag;
    ++_ctx.counters.get_requests;
    auto got = co_await _ctx.client.get_object(req, std::span(buf.data(), *req.length));
    if (!got) {
      co_return to_fs_error(std::move(got).err());
    }
    if (got->bytes != *req.length) {
      co_return make_error(EIO, "short read staging " + key);
    }
    if (status st = pwrite_all(s.fd, std::span(buf.data(), got->bytes), off); !st) {
      co_return st;
    }
    off += got->bytes;
  }
  s.size = size;
  co_return status{};
}

task<result<oss::put_result>> writer::upload_multipart(const std::string& key,
                                                       const staged_file& s) {
  uint64_t part =
      std::max({_ctx.opts.part_size, min_part_size, (s.size + max_parts - 1) / max_parts});
  auto id = co_await _ctx.client.initiate_multipart(key);
  if (!id) {
    co_return std::move(id).err();
  }
  co_return co_await finish_multipart(key, s, std::move(*id), part, 0, {});
}

task<result<oss::put_result>> writer::finish_multipart(const std::string& key, const staged_file& s,
                                                       std::string id, uint64_t part,
                                                       unsigned first,
                                                       std::vector<oss::part_etag> etags) {
  const uint64_t size = s.size;
  const unsigned parts = static_cast<unsigned>(std::max<uint64_t>(1, (size + part - 1) / part));
  // Each part is read from the staged file into the worker's buffer (a write during the upload
  // changes the version and is uploaded again at the next flush).
  auto send = [&](unsigned i, std::vector<std::byte>& buf) -> task<result<oss::part_etag>> {
    uint64_t off = uint64_t{i} * part;
    buf.resize(static_cast<size_t>(std::min(part, size - off)));
    if (status st = pread_all(s.fd, buf, off); !st) {
      co_return std::move(st).err();
    }
    co_return co_await _ctx.client.upload_part(key, id, i + 1, buf);
  };
  co_return co_await complete_parts(key, id, parts, first, std::move(etags), send);
}

task<result<oss::put_result>> writer::complete_parts(const std::string& key, const std::string& id,
                                                     unsigned parts, unsigned first,
                                                     std::vector<oss::part_etag> etags,
                                                     const part_sender& send) {
  etags.resize(parts);
  std::optional<error> failed;
  unsigned next = first;
  // `upload_parallelism` workers take parts in order, each with a buffer of its own.
  auto worker = [&]() -> task<void> {
    std::vector<std::byte> buf;
    while (!failed && next < parts) {
      unsigned i = next++;
      auto e = co_await send(i, buf);
      if (!e) {
        failed = std::move(e).err();
        co_return;
      }
      etags[i] = std::move(*e);
    }
  };
  gate workers;
  for (unsigned w = 0; w < std::max(1u, _ctx.opts.upload_parallelism); ++w) {
    workers.spawn(worker());
  }
  co_await workers.close();
  if (!failed) {
    auto done = co_await _ctx.client.complete_multipart(key, id, etags);
    if (done) {
      co_return std::move(*done);
    }
    failed = std::move(done).err();
  }
  // The parts would otherwise be billed as storage until a lifecycle rule removes them.
  if (status st = co_await _ctx.client.abort_multipart(key, id); !st) {
    log_warn("multipart_abort_failed", {{"key", key}, {"error", st.err().describe()}});
  }
  co_return std::move(*failed);
}

task<void> writer::upload_settled(staged_file& s) {
  while (s.uploading) {
    std::shared_ptr<oneshot_event> done = s.upload_done;  // upload() replaces it
    co_await done->wait();
  }
}

task<status> writer::upload(uint64_t ino, std::shared_ptr<staged_file> s) {
  // One upload of a file at a time: two racing ones could leave the older content last.
  co_await upload_settled(*s);
  if (s->unlinked || s->uploaded == s->version) {
    if (s->stream) {
      _ctx.background.spawn(stream_abort(std::move(s->stream)));
    }
    co_return status{};
  }
  s->uploading = true;
  s->upload_done = std::make_shared<oneshot_event>();
  const uint64_t version = s->version;
  const uint64_t size = s->size;
  const std::string key = s->key;
  result<oss::put_result> put = make_error(EIO, "not uploaded");
  std::optional<result<oss::put_result>> streamed;
  if (s->stream) {
    streamed = co_await upload_streamed(*s, size);
  }
  if (streamed) {
    put = std::move(*streamed);
  } else if (size <= _ctx.opts.multipart_threshold) {
    std::vector<std::byte> data(static_cast<size_t>(size));
    if (status st = pread_all(s->fd, data, 0); !st) {
      put = std::move(st).err();
    } else {
      put = co_await _ctx.client.put_object(key, data);
    }
  } else {
    put = co_await upload_multipart(key, *s);
    if (!put && (put.err().http_status == 0 || put.err().http_status >= 500)) {
      // InitiateMultipartUpload and CompleteMultipartUpload are POSTs, which the client does
      // not retry: a lost answer to one of them fails the upload. Once more from the start
      // costs a new upload id, never a wrong object.
      log_warn("multipart_retry",
               {{"key", key}, {"error", put.err().message}, {"request_id", put.err().request_id}});
      put = co_await upload_multipart(key, *s);
    }
  }
  // Waiters (fsync, unlink, another close) run inside set(): every field they read is final
  // before it.
  s->uploading = false;
  std::shared_ptr<oneshot_event> done = std::move(s->upload_done);
  if (!put) {
    ++_ctx.counters.upload_failures;
    done->set();
    co_return to_fs_error(std::move(put).err());
  }
  ++_ctx.counters.uploads;
  _ctx.counters.upload_bytes += size;
  s->in_oss = true;
  if (s->version == version) {
    s->uploaded = version;
    seed_blob(*s, size, put->etag);
  }
  // The inode (if it still names this file) now describes the uploaded object.
  if (lazy_inode* i = _lazy->inodes().get(ino); i != nullptr && i->key == key && !s->unlinked) {
    i->attrs.size = s->size;
    i->attrs.mtime_sec = wall_now();
    i->attrs.etag = put->etag;
    i->attr_expiry = _ctx.now() + _ctx.opts.attr_timeout;
    _lazy->listing_put(i->parent, std::string_view(key).substr(parent_of(key).size()), &i->attrs);
  }
  _lazy->negative().erase(key);
  if (auto it = _ctx.staged.find(ino);
      it != _ctx.staged.end() && it->second == s && s->handles == 0 && s->uploaded == s->version) {
    _ctx.staged.erase(it);  // closed while this upload ran: OSS has it all now
  }
  done->set();
  co_return status{};
}

void writer::seed_blob(const staged_file& s, uint64_t size, const std::string& etag) {
  if (_ctx.opts.direct || size == 0 || size > _ctx.opts.small_file_threshold || etag.empty()) {
    return;
  }
  std::vector<std::byte> buf(size);
  if (status st = pread_all(s.fd, buf, 0); !st) {
    log_warn("blob_seed_failed", {{"key", s.key}, {"error", st.err().message}});
    return;
  }
  // A store whose budget is full of pinned blobs hands the blob back uncached: not seeded.
  const uint64_t uncached = _blobs.stats().uncached;
  if (_blobs.store(blob_store::blob_id(etag, size), std::move(buf)) &&
      _blobs.stats().uncached == uncached) {
    ++_ctx.counters.blobs_seeded;
  }
}

task<void> writer::upload_in_background(uint64_t ino, std::shared_ptr<staged_file> s) {
  co_await upload_on_release(ino, std::move(s));
  --_background_uploads;
}

task<void> writer::upload_on_release(uint64_t ino, std::shared_ptr<staged_file> s) {
  status st = co_await upload(ino, s);
  if (!st) {
    // The close that should have reported this already returned (a FLUSH precedes every
    // RELEASE, so this is a change made after it, e.g. through mmap). The staged copy stays
    // in the process so that a later open and close can try again.
    log_error("upload_failed",
              {{"key", s->key}, {"error", st.err().message}, {"request_id", st.err().request_id}});
  }
}

}  // namespace ossuring::fs
