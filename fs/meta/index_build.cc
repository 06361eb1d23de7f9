// index_metadata: the parallel listing that builds an index (many ListObjectsV2 over disjoint
// key ranges, split adaptively), the saved index, and refreshes under a live mount.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <vector>

#include "core/log.hh"
#include "core/on_thread.hh"
#include "core/sync.hh"
#include "fs/errors.hh"
#include "fs/meta/index_meta.hh"
#include "fs/meta/list_split.hh"
#include "http/oss/list_guard.hh"

namespace ossuring::fs {

// One listing's key range: keys above `cursor` and up to `end` (inclusive; nullopt: to the end
// of the prefix). `end` only ever moves down, when another listing takes the range's upper part.
struct index_metadata::list_range {
  std::string cursor;    // the last key listed (or the start-after the range began with)
  std::string previous;  // the cursor before the last page (empty until the first listing's
                         // second page: that listing starts at the prefix's beginning)
  std::optional<std::string> end;
  list_range* parent = nullptr;  // the range this one was split from
  uint64_t after = 0;            // the LIST whose answer started this range's listing (0: none)
  bool listed = false;           // a page has come back
  bool done = false;
};

struct index_metadata::build_state {
  index_builder builder;
  task_group group;
  std::optional<error> failure;
  uint64_t requests = 0;
  uint64_t outside_prefix = 0;  // listed keys outside the prefix, dropped
  std::string first_outside;
  uint64_t keys = 0;              // keys listed so far (ranges are disjoint: all distinct)
  unsigned splits = 0;            // ranges handed to new listings
  key_bytes seen;                 // the bytes listed keys use, where a large bucket is cut
  std::deque<list_range> ranges;  // stable addresses: ranges point at their parents
  // The listings' schedule, logged at debug level (index_list_page) so a benchmark can find
  // what the LISTs alone needed: each LIST is numbered, and a split made while a page is handled
  // (no suspension in between) follows that page.
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  uint64_t lists_sent = 0;
  uint64_t handling = 0;  // the LIST whose answer is being handled
};

namespace {

// How wide the range (cursor, end] is, as a sort key: where cursor and end first differ (an
// earlier position is wider), then by how much there.
std::pair<size_t, int> width_of(std::string_view cursor, std::string_view end) {
  const size_t i = parted_at(cursor, end);
  const int a = i < cursor.size() ? static_cast<unsigned char>(cursor[i]) : -1;
  const int b = i < end.size() ? static_cast<unsigned char>(end[i]) : -1;
  return {i, b - a};
}

}  // namespace

index_metadata::list_range* index_metadata::widest_range(build_state& st,
                                                         std::string_view sentinel) {
  list_range* best = nullptr;
  std::pair<size_t, int> best_width;
  for (list_range& r : st.ranges) {
    if (r.done || !r.listed || r.cursor.empty()) {
      continue;
    }
    const auto w = width_of(r.cursor, r.end ? std::string_view(*r.end) : sentinel);
    if (best == nullptr || w.first < best_width.first ||
        (w.first == best_width.first && w.second > best_width.second)) {
      best = &r;
      best_width = w;
    }
  }
  return best;
}

void index_metadata::try_split(build_state& st, list_range* r,
                               const std::vector<oss::listed_object>* page) {
  // Every range split off costs at most one LIST beyond ceil(keys / page) (an empty range, or
  // the partial last page of the range below it), so until the listing has proven the bucket
  // large (100 pages of keys) only `free_splits` happen: a small bucket is listed in at most
  // ceil(N / page) + 2 LISTs, a large one in parallel.
  constexpr unsigned free_splits = 2;
  const bool proven_large = st.keys > 100ull * _ctx.opts.list_page_size;
  if (st.failure || st.group.pending() >= _ctx.opts.list_parallelism ||
      !(st.splits < free_splits || proven_large)) {
    return;
  }
  const std::string sentinel = _ctx.opts.prefix + "\x7f";
  if (proven_large) {
    // Cut the widest range left, not the one whose page came back: cutting whichever listing
    // asks leaves many short ranges, each ending in a partial page.
    r = widest_range(st, sentinel);
  }
  if (r == nullptr || r->done || !r->listed || r->cursor.empty()) {
    return;
  }
  std::string_view hi = r->end ? std::string_view(*r->end) : std::string_view(sentinel);
  if (r->cursor >= hi) {
    return;
  }
  if (!proven_large && st.splits == 0) {
    // The two free cuts, made once the first listing has two pages: where its names would be
    // 33 and 66 pages on at the step of its last page. Three listings then reach the 100 pages
    // that prove the bucket large in about 34 round trips; a bucket that ends sooner leaves the
    // upper ranges empty, one LIST each (within the two). A cut near the page ended within a
    // few pages and left one listing for most of that ramp (about 100 round trips for 1M keys).
    if (r->previous.empty()) {
      return;
    }
    auto far = st.seen.ahead(r->previous, r->cursor, 66, _ctx.opts.prefix.size());
    auto near = st.seen.ahead(r->previous, r->cursor, 33, _ctx.opts.prefix.size());
    if (near && *near < hi) {
      if (far && *far < hi) {
        split_at(st, *r, std::move(*far));
      }
      split_at(st, *r, std::move(*near));
      return;
    }
  }
  // While splits are scarce, split where this page suggests keys are; once the bucket is
  // large, cut where its names were seen to vary (an empty half costs one LIST among hundreds
  // of pages, and the listing it was given to tries the next cut at once).
  std::optional<std::string> mid;
  if (proven_large) {
    mid = st.seen.cut(r->cursor, hi, _ctx.opts.prefix.size());
  } else if (page != nullptr) {
    mid = split_near(*page, r->cursor, hi, _ctx.opts.prefix.size());
  }
  if (!mid) {
    mid = split_key(r->cursor, hi);
  }
  if (mid) {
    split_at(st, *r, std::move(*mid));
  }
}

void index_metadata::split_at(build_state& st, list_range& r, std::string mid) {
  list_range& upper = st.ranges.emplace_back();
  upper.cursor = mid;
  upper.end = r.end;
  upper.parent = &r;
  upper.after = st.handling;
  log_debug("index_list_split", {{"from", r.cursor},
                                 {"at", mid},
                                 {"to", upper.end.value_or("")},
                                 {"listings", std::to_string(st.group.pending() + 1)}});
  r.end = std::move(mid);
  ++st.splits;
  st.group.spawn(list_worker(st, upper));
}

task<void> index_metadata::list_worker(build_state& st, list_range& r) {
  oss::list_request req;
  req.prefix = _ctx.opts.prefix;
  req.start_after = r.cursor;
  req.max_keys = _ctx.opts.list_page_size;
  // A page that does not advance (a server ignoring start-after or repeating a token) ends the
  // whole build: without it, this loop and its splits would list forever.
  oss::list_guard guard(_ctx.opts.bucket, req);
  uint64_t reported = 0;  // keys outside the prefix the guard dropped, counted in `st`
  uint64_t added = 0;     // keys this listing added
  uint64_t after = r.after;
  const bool trace = log_enabled(log_level::debug);
  while (!st.failure) {
    const uint64_t id = ++st.lists_sent;
    const auto sent = std::chrono::steady_clock::now();
    auto page = co_await _ctx.client.list_objects_v2(req, &_list_abort);
    ++st.requests;
    ++_ctx.counters.list_requests;
    st.handling = id;
    if (trace) {
      using us = std::chrono::microseconds;
      const auto since = [&st](auto t) {
        return std::to_string(std::chrono::duration_cast<us>(t - st.started).count());
      };
      log_debug("index_list_page", {{"id", std::to_string(id)},
                                    {"after", std::to_string(after)},
                                    {"sent_us", since(sent)},
                                    {"answered_us", since(std::chrono::steady_clock::now())}});
    }
    after = id;
    if (page) {
      if (status ok = guard.check(*page); !ok) {
        page = std::move(ok).err();
      }
    }
    if (!page) {
      if (!st.failure) {
        st.failure = to_fs_error(std::move(page).err());
      }
      break;
    }
    if (guard.skipped() > reported) {
      if (st.outside_prefix == 0) {
        st.first_outside = guard.first_skipped();
      }
      st.outside_prefix += guard.skipped() - reported;
      reported = guard.skipped();
    }
    // `r.end` may have moved down while the page was on its way: another listing took the rest.
    bool past_end = false;
    st.builder.start_run();
    for (const auto& o : page->objects) {
      if (r.end && o.key > *r.end) {
        past_end = true;
        break;
      }
      st.builder.add(o);
      st.seen.add(o.key);
      ++st.keys;
      ++added;
    }
    r.listed = true;
    if (!page->objects.empty()) {
      r.previous = std::move(r.cursor);
      r.cursor = page->objects.back().key;
    }
    if (past_end || !page->truncated) {
      break;
    }
    req.continuation_token = page->next_continuation_token;
    try_split(st, &r, &page->objects);
  }
  r.done = true;
  if (added == 0 && r.parent != nullptr) {
    // The upper part split off was empty: the range below, whose end is now this range's
    // start, is halved again at once rather than after its next page.
    try_split(st, r.parent, nullptr);
  }
}

task<result<index>> index_metadata::list_index() {
  build_state st{index_builder(_ctx.opts.prefix), {}, std::nullopt, 0, 0, {}, 0, 0, {}, {}};
  st.group.spawn(list_worker(st, st.ranges.emplace_back()));
  co_await st.group.wait();
  if (st.failure) {
    co_return std::move(*st.failure);
  }
  if (st.outside_prefix > 0) {
    log_warn("list_keys_outside_prefix", {{"count", std::to_string(st.outside_prefix)},
                                          {"first", st.first_outside},
                                          {"prefix", _ctx.opts.prefix},
                                          {"rule", "docs/semantics.md#key-names"}});
  }
  index idx = std::move(st.builder).finish(static_cast<int64_t>(std::time(nullptr)));
  const index_stats& s = idx.stats();
  if (s.skipped_keys > 0) {
    log_warn("index_skipped_keys", {{"count", std::to_string(s.skipped_keys)},
                                    {"first", s.first_skipped},
                                    {"rule", "docs/semantics.md#key-names"}});
  }
  log_info("index_built", {{"objects", std::to_string(s.objects)},
                           {"directories", std::to_string(s.directories)},
                           {"list_requests", std::to_string(st.requests)}});
  co_return idx;
}

task<result<index_stats>> index_metadata::build() {
  bool publish = false;
  auto idx = co_await first_index(publish);  // index_shared.cc: a listing, or the shared image
  if (!idx) {
    co_return std::move(idx).err();
  }
  install(std::move(*idx), false);
  if (publish) {
    co_await publish_shared();
  }
  co_return current().stats();
}

task<result<index_stats>> index_metadata::load_or_build(const std::string& file,
                                                        std::chrono::seconds max_age,
                                                        bool* reused) {
  if (reused) {
    *reused = false;
  }
  _index_file = file;
  if (!_ctx.opts.shared_index.empty()) {
    // The group's image comes first (fs/meta/shared_index.hh); the file only mirrors it.
    auto shared = co_await build();
    if (shared) {
      save();
    }
    co_return shared;
  }
  auto loaded = index::load(file, _ctx.opts.bucket, _ctx.opts.prefix);
  const int64_t wall = static_cast<int64_t>(std::time(nullptr));
  if (loaded && wall - loaded->build_time() < max_age.count() && loaded->build_time() <= wall) {
    // Provisional until a refresh confirms it: the kernel is told to ask again soon.
    install(std::move(*loaded), true);
    if (reused) {
      *reused = true;
    }
    log_info("index_reused",
             {{"file", file}, {"objects", std::to_string(current().stats().objects)}});
    co_return current().stats();
  }
  if (!loaded && loaded.err().code != ENOENT) {
    log_warn("index_file_refused", {{"file", file}, {"reason", loaded.err().message}});
  }
  auto built = co_await build();
  if (!built) {
    co_return built;
  }
  save();
  co_return built;
}

void index_metadata::save() {
  if (_index_file.empty()) {
    return;
  }
  _save_wanted = true;
  if (_saving) {
    return;  // save_loop writes again when the write in progress ends
  }
  if (_ctx.closing) {
    // Unmounting: the background group is being drained, so write here.
    _save_wanted = false;
    if (auto saved = current().save(_index_file, _ctx.opts.bucket, _ctx.opts.prefix); !saved) {
      log_warn("index_save_failed", {{"file", _index_file}, {"reason", saved.err().message}});
    }
    return;
  }
  _saving = true;
  _ctx.background.spawn(save_loop());
}

task<void> index_metadata::save_loop() {
  while (_save_wanted) {
    _save_wanted = false;
    // The thread reads an immutable index it holds a reference to, and copies of the names.
    auto write = [idx = _cur->idx, file = _index_file, bucket = _ctx.opts.bucket,
                  prefix = _ctx.opts.prefix] { return idx->save(file, bucket, prefix); };
    task<status> written = on_thread(std::move(write));
    status saved = co_await std::move(written);
    if (!saved) {
      log_warn("index_save_failed", {{"file", _index_file}, {"reason", saved.err().message}});
    }
  }
  _saving = false;
}

task<result<index_stats>> index_metadata::refresh() {
  if (_refreshing) {
    co_return make_error(EALREADY, "a refresh of the index is already running");
  }
  _refreshing = true;
  const auto started = std::chrono::steady_clock::now();
  bool publish = false;
  auto idx = co_await next_index(publish);  // index_shared.cc: a listing, or the shared image
  _refreshing = false;
  if (_ctx.closing) {
    co_return make_error(ECANCELED, "unmounting");
  }
  if (!idx && idx.err().code == EEXIST) {
    // The shared image is this index and young enough, or another mount is listing: nothing to
    // list here (fs/meta/shared_index.hh).
    _cur->provisional = false;
    co_return current().stats();
  }
  if (!idx) {
    // The current index goes on serving: a failed refresh loses nothing.
    log_warn("index_refresh_failed",
             {{"error", idx.err().message}, {"request_id", idx.err().request_id}});
    co_return std::move(idx).err();
  }
  const bool changed = !current().same_entries(*idx);
  if (changed) {
    install(std::move(*idx), false);
  } else {
    // Same tree, same node numbers: the kernel's inodes, entries and page cache stay valid.
    // The new copy only brings its build time (the saved file's age) and confirms a reused one.
    _cur->idx = std::make_shared<const index>(std::move(*idx));
    _cur->provisional = false;
  }
  ++_ctx.counters.index_refreshes;
  save();
  if (publish) {
    co_await publish_shared();
  }
  if (changed && _forget_kernel_names) {
    status forgot = co_await _forget_kernel_names();
    if (!forgot) {
      // Kernels before 6.16: names resolved before the refresh stay until their entry timeout.
      log_warn("kernel_names_kept", {{"error", forgot.err().message}});
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log_info("index_refreshed", {{"objects", std::to_string(current().stats().objects)},
                               {"changed", changed ? "yes" : "no"},
                               {"generations", std::to_string(_gens.size())},
                               {"seconds", std::to_string(secs)}});
  co_return current().stats();
}

}  // namespace ossuring::fs
