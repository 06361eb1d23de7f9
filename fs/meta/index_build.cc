// index_metadata: the parallel listing that builds an index (many ListObjectsV2 over disjoint
// key ranges, split adaptively), the saved index, and refreshes under a live mount.
#include <algorithm>
#include <ctime>
#include <vector>

#include "core/log.hh"
#include "core/sync.hh"
#include "fs/errors.hh"
#include "fs/meta/index_meta.hh"
#include "http/oss/list_guard.hh"

namespace ossuring::fs {

std::optional<std::string> split_key(std::string_view lo, std::string_view hi) {
  constexpr int first = 0x20;
  constexpr int last = 0x7e;
  size_t i = 0;
  while (i < lo.size() && i < hi.size() && lo[i] == hi[i]) {
    ++i;
  }
  if (i >= hi.size()) {
    return std::nullopt;  // hi is a prefix of lo: lo >= hi
  }
  int a = i < lo.size() ? static_cast<unsigned char>(lo[i]) : first - 1;
  int b = static_cast<unsigned char>(hi[i]);
  if (a >= b) {
    return std::nullopt;  // lo > hi
  }
  int lo_c = std::max(a + 1, first);
  int hi_c = std::min(b - 1, last);
  if (lo_c <= hi_c) {
    std::string m(hi.substr(0, i));
    m += static_cast<char>((lo_c + hi_c + 1) / 2);
    return m;
  }
  // No room at i: keep lo's byte there (anything longer then sorts below hi) and split deeper.
  if (i >= lo.size()) {
    return std::nullopt;
  }
  for (size_t j = i + 1; j < lo.size() + 1 && j < i + 8; ++j) {
    int aj = j < lo.size() ? static_cast<unsigned char>(lo[j]) : first - 1;
    int lo_j = std::max(aj + 1, first);
    if (lo_j <= last) {
      std::string m(lo.substr(0, j));
      m += static_cast<char>((lo_j + last + 1) / 2);
      return m;
    }
  }
  return std::nullopt;
}

namespace {

// A split point in (lo, hi) where the keys of the page just listed suggest more keys are: the
// page's keys share a prefix up to position p (where they vary), so the next keys likely stay
// within the family one position up (the prefix up to p - 1, which ends before `hi`), and use
// the bytes the page's keys use where they vary (digits for `file-00123`, say). The midpoint of
// that family between `lo` and its end; nullopt when there is no room.
std::optional<std::string> split_near(const std::vector<oss::listed_object>& page,
                                      std::string_view lo, std::string_view hi, size_t prefix) {
  if (page.size() < 2) {
    return std::nullopt;
  }
  std::string_view f = page.front().key;
  size_t p = 0;
  while (p < f.size() && p < lo.size() && f[p] == lo[p]) {
    ++p;
  }
  if (p <= prefix + 1 || p >= lo.size()) {
    return std::nullopt;
  }
  int first = 0xff;
  int last = 0;
  for (const auto& o : page) {
    for (size_t i = p - 1; i < o.key.size(); ++i) {
      first = std::min<int>(first, static_cast<unsigned char>(o.key[i]));
      last = std::max<int>(last, static_cast<unsigned char>(o.key[i]));
    }
  }
  // The family's end: the prefix up to p - 1 with its last byte raised (nullopt at 0xff).
  std::string end(lo.substr(0, p - 1));
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) {
    end.pop_back();
  }
  if (end.size() <= prefix) {
    return std::nullopt;
  }
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  std::string_view upper = std::min(std::string_view(end), hi);
  // The first byte from p - 1 on where lo can be raised within the family and the alphabet.
  for (size_t j = p - 1; j < lo.size() && j < p + 8; ++j) {
    const int from = static_cast<unsigned char>(lo[j]) + 1;
    if (from > last) {
      continue;
    }
    std::string m(lo.substr(0, j));
    m += static_cast<char>((std::max(from, first) + last + 1) / 2);
    if (m > lo && m < upper) {
      return m;
    }
  }
  return std::nullopt;
}

}  // namespace

struct index_metadata::build_state {
  index_builder builder;
  task_group group;
  std::optional<error> failure;
  uint64_t requests = 0;
  uint64_t outside_prefix = 0;  // listed keys outside the prefix, dropped
  std::string first_outside;
  uint64_t keys = 0;    // keys listed so far (ranges are disjoint: all distinct)
  unsigned splits = 0;  // ranges handed to new listings
};

task<void> index_metadata::list_worker(build_state& st, std::string start_after,
                                       std::optional<std::string> last) {
  oss::list_request req;
  req.prefix = _ctx.opts.prefix;
  req.start_after = std::move(start_after);
  req.max_keys = _ctx.opts.list_page_size;
  const std::string sentinel = _ctx.opts.prefix + "\x7f";
  // A page that does not advance (a server ignoring start-after or repeating a token) ends the
  // whole build: without it, this loop and its splits would list forever.
  oss::list_guard guard(_ctx.opts.bucket, req);
  uint64_t reported = 0;  // keys outside the prefix the guard dropped, counted in `st`
  while (!st.failure) {
    auto page = co_await _ctx.client.list_objects_v2(req, &_list_abort);
    ++st.requests;
    ++_ctx.counters.list_requests;
    if (page) {
      if (status ok = guard.check(*page); !ok) {
        page = std::move(ok).err();
      }
    }
    if (!page) {
      if (!st.failure) {
        st.failure = to_fs_error(std::move(page).err());
      }
      co_return;
    }
    if (guard.skipped() > reported) {
      if (st.outside_prefix == 0) {
        st.first_outside = guard.first_skipped();
      }
      st.outside_prefix += guard.skipped() - reported;
      reported = guard.skipped();
    }
    std::string last_key;
    bool past_end = false;
    for (const auto& o : page->objects) {
      if (last && o.key > *last) {
        past_end = true;
        break;
      }
      st.builder.add(o);
      ++st.keys;
    }
    if (!page->objects.empty()) {
      last_key = page->objects.back().key;
    }
    if (past_end || !page->truncated) {
      co_return;
    }
    req.continuation_token = page->next_continuation_token;
    // Adaptive split: hand the upper part of what is left to a new listing while there is room.
    // Every range split off costs at most one LIST beyond ceil(keys / page) (an empty range, or
    // the partial last page of the range below it), so until the listing has proven the bucket
    // large (100 pages of keys) only `free_splits` happen: a small bucket is listed in at most
    // ceil(N / page) + 2 LISTs, a large one in parallel.
    constexpr unsigned free_splits = 2;
    const bool proven_large = st.keys > 100ull * req.max_keys;
    if (st.group.pending() < _ctx.opts.list_parallelism && !last_key.empty() &&
        (st.splits < free_splits || proven_large)) {
      std::string_view hi = last ? std::string_view(*last) : std::string_view(sentinel);
      if (last_key < hi) {
        // While splits are scarce, split where this page suggests keys are; once the bucket
        // is large, halve the key space (empty ranges are cheap among hundreds of pages).
        std::optional<std::string> mid =
            proven_large ? std::nullopt
                         : split_near(page->objects, last_key, hi, req.prefix.size());
        if (!mid) {
          mid = split_key(last_key, hi);
        }
        if (mid) {
          std::optional<std::string> upper = last;
          last = *mid;
          ++st.splits;
          st.group.spawn(list_worker(st, *mid, std::move(upper)));
        }
      }
    }
  }
}

task<result<index>> index_metadata::list_index() {
  build_state st{index_builder(_ctx.opts.prefix), {}, std::nullopt, 0, 0, {}, 0, 0};
  st.group.spawn(list_worker(st, std::string(), std::nullopt));
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
  if (auto saved = current().save(_index_file, _ctx.opts.bucket, _ctx.opts.prefix); !saved) {
    log_warn("index_save_failed", {{"file", _index_file}, {"reason", saved.err().message}});
  }
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
