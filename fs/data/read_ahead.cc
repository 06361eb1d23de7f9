// reader, large objects: ranged GETs with a read-ahead window that doubles on sequential reads
// (up to readahead_max, within buffer_limit), the CRC-64 of bytes read through in order, and
// directMode's one ranged GET per READ.
#include <algorithm>
#include <cstring>

#include "core/log.hh"
#include "fs/data/reader.hh"
#include "fs/errors.hh"
#include "http/oss/crc64.hh"

namespace ossuring::fs {

error reader::interrupted(const std::string& what) {
  return make_error(EINTR, what + " interrupted");
}

error reader::read_error(error e, abort_source* abort) {
  if (abort && abort->aborted()) {
    e.code = EINTR;
    return e;
  }
  return to_fs_error(std::move(e));
}

std::shared_ptr<read_chunk> reader::issue_chunk(open_file& f, uint64_t off, uint64_t len) {
  auto c = std::make_shared<read_chunk>(off, len, _ctx.counters.buffer_bytes);
  f.chunks.push_back(c);
  ++_ctx.counters.get_requests;
  _ctx.background.spawn(get_chunk(c, f.key, f.etag));
  return c;
}

task<void> reader::get_chunk(std::shared_ptr<read_chunk> ch, std::string key, std::string etag) {
  oss::get_request req;
  req.key = key;
  req.offset = ch->off;
  req.length = ch->data.size();
  req.if_match = etag;
  auto r = co_await _ctx.client.get_object(req, ch->data, &ch->cancel);
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
}

void reader::fill_ahead(open_file& f, uint64_t pos) {
  uint64_t end = f.chunks.empty() ? pos : f.chunks.back()->end();
  while (end < f.size && end < pos + f.window) {
    uint64_t len = std::min({_ctx.opts.readahead_chunk, f.window, f.size - end});
    if (_ctx.opts.buffer_limit > 0 && _ctx.counters.buffer_bytes + len > _ctx.opts.buffer_limit) {
      break;  // the memory budget is spent: read-ahead waits for the reader to catch up
    }
    issue_chunk(f, end, len);
    end += len;
  }
}

void reader::cancel_chunks(open_file& f, bool even_awaited) {
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

task<result<size_t>> reader::read_large(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
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
    std::shared_ptr<read_chunk> c;
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
        std::erase_if(f.chunks, [&](const std::shared_ptr<read_chunk>& k) {
          if (k->off < pos) {
            return false;
          }
          if (!k->done.is_set() && k->readers == 0) {
            k->cancel.request_abort();
          }
          return true;
        });
        f.window =
            std::min(std::max(_ctx.opts.readahead_min, f.window * 2), _ctx.opts.readahead_max);
      } else {
        cancel_chunks(f, false);
        f.window = 0;
      }
      uint64_t len = std::min<uint64_t>(
          std::max(need, std::min(f.window, _ctx.opts.readahead_chunk)), f.size - pos);
      if (_ctx.opts.buffer_limit > 0) {
        // Within the memory budget a read still always gets what it asked for.
        uint64_t used = _ctx.counters.buffer_bytes;
        uint64_t room = used < _ctx.opts.buffer_limit ? _ctx.opts.buffer_limit - used : 0;
        len = std::max(need, std::min(len, room));
      }
      c = issue_chunk(f, pos, len);
      f.last_chunk = c.get();
    } else if (c.get() != f.last_chunk) {
      // The reader moved on into the next chunk: the access is sequential, widen the window.
      if (f.last_chunk && c->off > f.last_chunk->off) {
        f.window = std::min(f.window * 2, _ctx.opts.readahead_max);
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
        ++_ctx.counters.interrupted;
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

task<result<size_t>> reader::read_direct(const open_file& f, uint64_t offset,
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
  ++_ctx.counters.get_requests;
  auto r = co_await _ctx.client.get_object(req, dest.subspan(0, want), abort);
  if (!r) {
    if (abort && abort->aborted()) {
      ++_ctx.counters.interrupted;
    }
    co_return read_error(std::move(r).err(), abort);
  }
  if (r->bytes != want) {
    co_return make_error(ESTALE, "object " + key + " shrank", r->request_id);
  }
  co_return static_cast<size_t>(want);
}

status reader::check_read_through(open_file& f, const read_chunk& c) {
  if (!_ctx.opts.verify_crc64) {
    return {};
  }
  auto mismatch = [&](std::string what) -> status {
    ++_ctx.counters.crc64_mismatches;
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

}  // namespace ossuring::fs
