// writer, part streams. A large file written in order gets its multipart upload
// begun while it is written, each part sent once the writer has passed it, so that its close
// sends only the last parts. Any change behind the parts sent (a seek back, a truncate, a
// rename) makes the stream unusable: it is aborted and the close uploads the whole file as
// before, so a stream can cost time but never correctness.
#include <algorithm>

#include "core/log.hh"
#include "fs/data/staging.hh"
#include "fs/data/writer.hh"

namespace ossuring::fs {

using namespace detail;

void writer::stream_parts(const std::shared_ptr<staged_file>& s) {
  if (!s->in_order || s->unlinked || _ctx.closing || s->size <= _ctx.opts.multipart_threshold) {
    return;
  }
  if (!s->stream) {
    auto ps = std::make_shared<part_stream>();
    ps->key = s->key;
    ps->part = std::max(_ctx.opts.part_size, min_part_size);
    ps->idle = std::make_shared<oneshot_event>();
    s->stream = ps;
    ps->starting = true;
    _ctx.background.spawn(stream_start(s, ps));
    return;
  }
  part_stream& ps = *s->stream;
  if (ps.id.empty() || ps.failed || ps.key != s->key) {
    return;
  }
  // A part is sent once bytes past its end exist: the last part waits for the close, which
  // knows where the file ends. OSS allows 10,000 parts; a larger file falls back at close.
  while (ps.in_flight < std::max(1u, _ctx.opts.upload_parallelism) && ps.sent + 1 < max_parts &&
         (uint64_t{ps.sent} + 1) * ps.part < s->size) {
    unsigned index = ps.sent++;
    ++ps.in_flight;
    _ctx.background.spawn(stream_part(s, s->stream, index));
  }
}

task<void> writer::stream_start(std::shared_ptr<staged_file> s, std::shared_ptr<part_stream> ps) {
  auto id = co_await _ctx.client.initiate_multipart(ps->key);
  ps->starting = false;
  if (!id) {
    ps->failed = std::move(id).err();
  } else {
    ps->id = std::move(*id);
  }
  if (ps->in_flight == 0) {
    ps->idle->set();
  }
  if (s->stream == ps) {
    stream_parts(s);
  }
}

task<void> writer::stream_part(std::shared_ptr<staged_file> s, std::shared_ptr<part_stream> ps,
                               unsigned index) {
  const uint64_t off = uint64_t{index} * ps->part;
  std::vector<std::byte> buf(static_cast<size_t>(ps->part));
  if (status st = pread_all(s->fd, buf, off); !st) {
    ps->failed = std::move(st).err();
  } else {
    auto e = co_await _ctx.client.upload_part(ps->key, ps->id, index + 1, buf);
    if (!e) {
      ps->failed = std::move(e).err();
    } else {
      if (ps->etags.size() <= index) {
        ps->etags.resize(index + 1);
      }
      ps->etags[index] = std::move(*e);
    }
  }
  if (--ps->in_flight == 0 && !ps->starting) {
    ps->idle->set();
  }
  if (s->stream == ps) {
    stream_parts(s);  // the writer may be further on by now
  }
}

task<void> writer::stream_settled(part_stream& ps) {
  while (ps.starting || ps.in_flight > 0) {
    if (ps.idle->is_set()) {
      ps.idle = std::make_shared<oneshot_event>();
    }
    std::shared_ptr<oneshot_event> idle = ps.idle;
    co_await idle->wait();
  }
}

task<void> writer::stream_abort(std::shared_ptr<part_stream> ps) {
  co_await stream_settled(*ps);
  if (ps->id.empty()) {
    co_return;
  }
  // Its parts would otherwise be billed as storage until a lifecycle rule removes them.
  if (status st = co_await _ctx.client.abort_multipart(ps->key, ps->id); !st) {
    log_warn("multipart_abort_failed", {{"key", ps->key}, {"error", st.err().describe()}});
  }
}

task<std::optional<result<oss::put_result>>> writer::upload_streamed(staged_file& s,
                                                                     uint64_t size) {
  std::shared_ptr<part_stream> ps = std::move(s.stream);  // consumed: later writes start anew
  co_await stream_settled(*ps);
  const bool usable = !ps->failed && !ps->id.empty() && s.in_order && ps->key == s.key &&
                      size > _ctx.opts.multipart_threshold &&
                      (size + ps->part - 1) / ps->part <= max_parts &&
                      uint64_t{ps->sent} * ps->part < size;
  if (!usable) {
    if (ps->failed) {
      log_warn("part_stream_failed", {{"key", ps->key},
                                      {"error", ps->failed->message},
                                      {"request_id", ps->failed->request_id},
                                      {"fallback", "whole upload"}});
    }
    co_await stream_abort(ps);
    co_return std::nullopt;
  }
  co_return co_await finish_multipart(s.key, s, ps->id, ps->part, ps->sent, ps->etags);
}

}  // namespace ossuring::fs
