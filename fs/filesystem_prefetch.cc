// filesystem, prefetch across files: opening a file queues the small files after it in its
// directory's listing order; a bounded set of workers fetches them into the blob store.
//
// Reads a process waits on never queue behind prefetch: an open sends its own GET at once (or
// joins the prefetch GET already in flight for that object), and prefetch holds at most
// `prefetch_concurrency` GETs of its own. Prefetched bytes queued or in flight stay under half
// the blob store's budget so prefetch cannot evict what it fetched before it is read.
#include <algorithm>
#include <vector>

#include "fs/detail/async.hh"
#include "fs/detail/fetch.hh"
#include "fs/filesystem.hh"

namespace ossuring::fs {

void filesystem::prefetch_after_open(uint64_t ino) {
  if (_opts.prefetch == prefetch_policy::off || _opts.mode != fs_mode::index || _closing ||
      ino == index::root_ino) {
    return;
  }
  auto r = find_node(ino);
  if (!r || r->gen != _cur) {
    return;  // an inode of a replaced index: its siblings are no longer where they were
  }
  const index& idx = r->idx();
  ino = r->node;
  const uint64_t dir = idx.parent(ino);
  const uint64_t first = idx.first_child(dir);
  const uint64_t count = idx.child_count(dir);
  if (ino < first || ino >= first + count) {
    return;
  }
  const uint64_t pos = ino - first;
  const unsigned conc = std::max(1u, _opts.prefetch_concurrency);
  const uint64_t ahead = _opts.prefetch == prefetch_policy::dir
                             ? count
                             : (_opts.prefetch_ahead ? _opts.prefetch_ahead : 2ull * conc);
  const uint64_t end = std::min<uint64_t>(count, pos + 1 + ahead);
  const uint64_t limit = _blobs->limit();
  uint64_t& cursor = _prefetch_cursor[dir];
  // A seek backwards (or a second pass) restarts the window after the file just opened.
  if (cursor < pos + 1 || cursor > end + ahead) {
    cursor = pos + 1;
  }
  for (; cursor < end; ++cursor) {
    const uint64_t child = first + cursor;
    if (idx.is_dir(child)) {
      continue;
    }
    const uint64_t size = idx.size(child);
    if (size == 0 || size > _opts.small_file_threshold) {
      continue;  // large files are read ahead within themselves, not prefetched whole
    }
    if (limit > 0 && _prefetch_queued_bytes + size > limit / 2) {
      break;  // resumes from here at a later open
    }
    std::string etag(idx.etag(child));
    if (etag.empty()) {
      continue;  // without an ETag a blob can never be found again: nothing to gain
    }
    _prefetch_queue.push_back({_opts.prefix + idx.path(child), std::move(etag), size});
    _prefetch_queued_bytes += size;
    ++_counters.prefetch_queued;
  }
  while (_prefetch_running < conc && !_prefetch_queue.empty()) {
    ++_prefetch_running;
    _background->spawn(prefetch_worker());
  }
}

task<void> filesystem::prefetch_worker() {
  while (!_closing && !_prefetch_queue.empty()) {
    prefetch_item it = std::move(_prefetch_queue.front());
    _prefetch_queue.pop_front();
    const std::string id = blob_store::blob_id(it.etag, it.size);
    if (!_fetching.count(id) && !_blobs->find(id)) {
      ++_counters.prefetch_gets;
      // Failures are not reported: the open that needs the file will try again and say why.
      std::shared_ptr<fetch> f = start_fetch(it.key, it.etag, it.size, true);
      co_await f->done.wait();
    }
    _prefetch_queued_bytes -= it.size;
  }
  --_prefetch_running;
}

task<void> filesystem::close() {
  _closing = true;
  _list_abort.request_abort();  // a refresh in flight ends now
  for (const prefetch_item& it : _prefetch_queue) {
    _prefetch_queued_bytes -= it.size;
  }
  _prefetch_queue.clear();
  for (auto& [fh, f] : _files) {
    cancel_chunks(f, true);  // read-ahead nobody will read: end those GETs now
  }
  std::vector<std::shared_ptr<fetch>> fetching;
  for (auto& [id, f] : _fetching) {
    fetching.push_back(f);
  }
  for (auto& f : fetching) {
    f->cancel.request_abort();
  }
  // Files still open for writing when the mount stops: what they wrote is uploaded, not lost.
  std::vector<std::pair<uint64_t, std::shared_ptr<staged_file>>> dirty;
  for (auto& [ino, s] : _staged) {
    if (s->uploaded != s->version && !s->unlinked) {
      dirty.emplace_back(ino, s);
    }
  }
  for (auto& [ino, s] : dirty) {
    _background->spawn(upload_on_release(ino, s));
  }
  co_await _background->wait();
}

}  // namespace ossuring::fs
