// prefetcher: the stream detector, the policies' choice of files, the queue and its workers.
//
// Reads a process waits on never queue behind prefetch: an open sends its own GET at once (or
// joins the prefetch GET already in flight for that object), and prefetch holds at most
// `prefetch_concurrency` GETs of its own. Prefetched bytes queued or in flight stay under half
// the blob store's budget so prefetch cannot evict what it fetched before it is read.
#include "fs/data/prefetch.hh"

#include <algorithm>

namespace ossuring::fs {

stream_detector::window stream_detector::access(uint64_t p, uint64_t ahead, uint64_t n) {
  ++_tick;
  const uint64_t step = std::clamp<uint64_t>(n / step_divisor, 1, max_step);
  const unsigned confirm = n < small_sequence ? confirm_steps + 1 : confirm_steps;
  unsigned oldest = 0;
  for (unsigned i = 0; i < _streams.size(); ++i) {
    stream& s = _streams[i];
    if (p > s.last && p - s.last <= step) {
      s.last = p;
      s.used = _tick;
      if (++s.steps < confirm) {
        return {};
      }
      const unsigned doublings = std::min(s.steps - confirm, 16u);
      const uint64_t w = std::min<uint64_t>(ahead, uint64_t{4} << doublings);
      const uint64_t from = std::max(p + 1, s.issued);
      const uint64_t to = p + 1 + w;
      return from < to ? window{from, to, i} : window{};
    }
    if (p <= s.last && s.last - p < step) {
      s.used = _tick;  // a concurrent reader of the same walk, a little behind: no news
      return {};
    }
    if (s.used < _streams[oldest].used) {
      oldest = i;
    }
  }
  stream fresh{p, p + 1, 0, _tick};
  if (_streams.size() < max_streams) {
    _streams.push_back(fresh);
  } else {
    _streams[oldest] = fresh;
  }
  return {};
}

void stream_detector::issued(unsigned s, uint64_t end) {
  if (s < _streams.size()) {
    _streams[s].issued = std::max(_streams[s].issued, end);
  }
}

void prefetcher::after_open(uint64_t ino) {
  const fs_options& o = _ctx.opts;
  if (o.prefetch == prefetch_policy::off || _ctx.closing) {
    return;
  }
  if (o.prefetch == prefetch_policy::adaptive) {
    adaptive_open(ino);
  } else {
    window_open(ino);
  }
  start_workers();
}

void prefetcher::window_open(uint64_t ino) {
  const fs_options& o = _ctx.opts;
  std::optional<sibling_view> v = _meta.siblings(ino);  // none in lazy mode
  if (!v) {
    return;
  }
  const unsigned conc = std::max(1u, o.prefetch_concurrency);
  const uint64_t ahead = o.prefetch == prefetch_policy::dir
                             ? v->count
                             : (o.prefetch_ahead ? o.prefetch_ahead : 2ull * conc);
  const uint64_t end = std::min<uint64_t>(v->count, v->pos + 1 + ahead);
  uint64_t& cursor = _cursor[v->dir];
  // A seek backwards (or a second pass) restarts the window after the file just opened.
  if (cursor < v->pos + 1 || cursor > end + ahead) {
    cursor = v->pos + 1;
  }
  for (; cursor < end; ++cursor) {
    if (!queue_child(*v, cursor)) {
      break;  // resumes from here at a later open
    }
  }
}

void prefetcher::adaptive_open(uint64_t ino) {
  const fs_options& o = _ctx.opts;
  const uint64_t ahead =
      o.prefetch_ahead ? o.prefetch_ahead : 2ull * std::max(1u, o.prefetch_concurrency);
  // A directory walked in listing order.
  if (std::optional<sibling_view> v = _meta.siblings(ino)) {
    if (_dir_streams.size() >= 4096 && !_dir_streams.contains(v->dir)) {
      _dir_streams.clear();  // bounded: walks in progress re-confirm in two steps
    }
    stream_detector& d = _dir_streams[v->dir];
    stream_detector::window w = d.access(v->pos, ahead, v->count);
    uint64_t p = w.from;
    for (; p < std::min(w.to, v->count); ++p) {
      if (!queue_child(*v, p)) {
        break;
      }
    }
    d.issued(w.stream, p);
  }
  // An earlier order repeated: the files opened after this one last time come next.
  if (auto it = _last_open.find(ino); it != _last_open.end()) {
    stream_detector::window w = _replay.access(it->second, ahead, _last_open.size());
    const uint64_t end = std::min(w.to, _history_start + _history.size());
    uint64_t p = w.from;
    for (; p < end; ++p) {
      auto n = _meta.resolve(_history[p - _history_start]);
      if (n && !queue(n->key, n->attrs.etag, n->attrs.size, n->attrs.is_dir)) {
        break;
      }
    }
    _replay.issued(w.stream, p);
  }
  _last_open[ino] = _history_start + _history.size();
  _history.push_back(ino);
  if (_history.size() > history_cap) {
    auto old = _last_open.find(_history.front());
    if (old != _last_open.end() && old->second == _history_start) {
      _last_open.erase(old);
    }
    _history.pop_front();
    ++_history_start;
  }
}

bool prefetcher::queue_child(const sibling_view& v, uint64_t pos) {
  const index& idx = *v.idx;
  const uint64_t child = v.first + pos;
  if (idx.is_dir(child)) {
    return true;
  }
  return queue(_ctx.opts.prefix + idx.path(child), std::string(idx.etag(child)), idx.size(child),
               false);
}

bool prefetcher::queue(const std::string& key, const std::string& etag, uint64_t size,
                       bool is_dir) {
  if (is_dir || size == 0 || size > _ctx.opts.small_file_threshold) {
    return true;  // large files are read ahead within themselves, not prefetched whole
  }
  if (etag.empty()) {
    return true;  // without an ETag a blob can never be found again: nothing to gain
  }
  const uint64_t limit = _blobs.limit();
  if (limit > 0 && _queued_bytes + size > limit / 2) {
    return false;
  }
  _queue.push_back({key, etag, size});
  _queued_bytes += size;
  ++_ctx.counters.prefetch_queued;
  return true;
}

void prefetcher::start_workers() {
  const unsigned conc = std::max(1u, _ctx.opts.prefetch_concurrency);
  while (_running < conc && !_queue.empty()) {
    ++_running;
    _ctx.background.spawn(worker());
  }
}

task<void> prefetcher::worker() {
  while (!_ctx.closing && !_queue.empty()) {
    item it = std::move(_queue.front());
    _queue.pop_front();
    const std::string id = blob_store::blob_id(it.etag, it.size);
    if (!_fetcher.in_flight(id) && !_blobs.find(id) && _blobs.room_for(it.size)) {
      ++_ctx.counters.prefetch_gets;
      // Failures are not reported: the open that needs the file will try again and say why.
      std::shared_ptr<whole_fetch> f = _fetcher.start(it.key, it.etag, it.size, true);
      co_await f->done.wait();
    }
    _queued_bytes -= it.size;
  }
  --_running;
}

void prefetcher::forget_cursors() {
  _cursor.clear();
  _dir_streams.clear();
  _history.clear();
  _last_open.clear();
  _history_start = 0;
  _replay = stream_detector{};
}

void prefetcher::stop() {
  for (const item& it : _queue) {
    _queued_bytes -= it.size;
  }
  _queue.clear();
}

}  // namespace ossuring::fs
