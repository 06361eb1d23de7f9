// filesystem, index mode: the parallel listing that builds an index, the saved index, and index
// generations, which let a refresh replace the index under a live mount.
//
// Index generations. Node numbers change from one listing to the next, but the kernel keeps the
// inode numbers it was given (cached dentries, open files, cwd). So each installed index is a
// generation with its own range of kernel inode numbers, base + node (the root is always 1 and
// belongs to the newest). Lookups and directory listings always answer from the newest
// generation, translating an older directory by its path; everything else an old inode asks
// (getattr, open, xattrs) is answered from the generation it came from, which stays alive while
// the kernel holds any of its inodes (its lookups not yet forgotten) or an open directory handle
// on it. Until the kernel has seen a generation's inodes, a new index replaces it in place.
#include <ctime>

#include "core/log.hh"
#include "fs/detail/async.hh"
#include "fs/errors.hh"
#include "fs/filesystem.hh"
#include "http/oss/list_guard.hh"

namespace ossuring::fs {

struct filesystem::build_state {
  index_builder builder;
  detail::task_group group;
  std::optional<error> failure;
  uint64_t requests = 0;
  uint64_t outside_prefix = 0;  // listed keys outside the prefix, dropped
  std::string first_outside;
};

task<void> filesystem::list_worker(build_state& st, std::string start_after,
                                   std::optional<std::string> last) {
  oss::list_request req;
  req.prefix = _opts.prefix;
  req.start_after = std::move(start_after);
  req.max_keys = _opts.list_page_size;
  const std::string sentinel = _opts.prefix + "\x7f";
  // A page that does not advance (a server ignoring start-after or repeating a token) ends the
  // whole build: without it, this loop and its splits would list forever.
  oss::list_guard guard(_opts.bucket, req);
  uint64_t reported = 0;  // keys outside the prefix the guard dropped, counted in `st`
  while (!st.failure) {
    auto page = co_await _client.list_objects_v2(req, &_list_abort);
    ++st.requests;
    ++_counters.list_requests;
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
    }
    if (!page->objects.empty()) {
      last_key = page->objects.back().key;
    }
    if (past_end || !page->truncated) {
      co_return;
    }
    req.continuation_token = page->next_continuation_token;
    // Adaptive split: hand the upper part of what is left to a new listing while there is room.
    if (st.group.pending() < _opts.list_parallelism && !last_key.empty()) {
      std::string_view hi = last ? std::string_view(*last) : std::string_view(sentinel);
      if (last_key < hi) {
        if (auto mid = split_key(last_key, hi)) {
          std::optional<std::string> upper = last;
          last = *mid;
          st.group.spawn(list_worker(st, *mid, std::move(upper)));
        }
      }
    }
  }
}

task<result<index>> filesystem::list_index() {
  build_state st{index_builder(_opts.prefix), {}, std::nullopt, 0, 0, {}};
  st.group.spawn(list_worker(st, std::string(), std::nullopt));
  co_await st.group.wait();
  if (st.failure) {
    co_return std::move(*st.failure);
  }
  if (st.outside_prefix > 0) {
    log_warn("list_keys_outside_prefix", {{"count", std::to_string(st.outside_prefix)},
                                          {"first", st.first_outside},
                                          {"prefix", _opts.prefix},
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

task<result<index_stats>> filesystem::build_index() {
  auto idx = co_await list_index();
  if (!idx) {
    co_return std::move(idx).err();
  }
  install_index(std::move(*idx), false);
  co_return current_index().stats();
}

void filesystem::adopt_index(index idx) {
  install_index(std::move(idx), false);
}

void filesystem::restore_index(index idx, const index_restore& r) {
  _gens.clear();
  index_gen& g = _gens[r.base];
  g.base = r.base;
  g.holds = 1;  // held by the kernel as far as we know: never dropped or replaced in place
  g.provisional = r.provisional;
  g.idx = std::make_shared<const index>(std::move(idx));
  _cur = &g;
  _heads.clear();
  _prefetch_cursor.clear();
  ++_installs;
  _index_file = r.file;
  _base_floor = r.base + g.idx->node_count() + (uint64_t{1} << 40);
  _fh_floor = (uint64_t{r.restarts} + 1) << 48;
  _next_fh = std::max(_next_fh, _fh_floor);
}

task<result<index_stats>> filesystem::load_or_build_index(const std::string& file,
                                                          std::chrono::seconds max_age,
                                                          bool* reused) {
  if (reused) {
    *reused = false;
  }
  _index_file = file;
  auto loaded = index::load(file, _opts.bucket, _opts.prefix);
  const int64_t wall = static_cast<int64_t>(std::time(nullptr));
  if (loaded && wall - loaded->build_time() < max_age.count() && loaded->build_time() <= wall) {
    // Provisional until a refresh confirms it: the kernel is told to ask again soon.
    install_index(std::move(*loaded), true);
    if (reused) {
      *reused = true;
    }
    log_info("index_reused",
             {{"file", file}, {"objects", std::to_string(current_index().stats().objects)}});
    co_return current_index().stats();
  }
  if (!loaded && loaded.err().code != ENOENT) {
    log_warn("index_file_refused", {{"file", file}, {"reason", loaded.err().message}});
  }
  auto built = co_await build_index();
  if (!built) {
    co_return built;
  }
  save_index();
  co_return built;
}

void filesystem::save_index() {
  if (_index_file.empty()) {
    return;
  }
  if (auto saved = current_index().save(_index_file, _opts.bucket, _opts.prefix); !saved) {
    log_warn("index_save_failed", {{"file", _index_file}, {"reason", saved.err().message}});
  }
}

task<result<index_stats>> filesystem::refresh_index() {
  if (_opts.mode != fs_mode::index) {
    co_return make_error(EINVAL, "a lazy-mode mount has no index to refresh");
  }
  if (_refreshing) {
    co_return make_error(EALREADY, "a refresh of the index is already running");
  }
  _refreshing = true;
  const auto started = std::chrono::steady_clock::now();
  auto idx = co_await list_index();
  _refreshing = false;
  if (_closing) {
    co_return make_error(ECANCELED, "unmounting");
  }
  if (!idx) {
    // The current index goes on serving: a failed refresh loses nothing.
    log_warn("index_refresh_failed",
             {{"error", idx.err().message}, {"request_id", idx.err().request_id}});
    co_return std::move(idx).err();
  }
  const bool changed = !current_index().same_entries(*idx);
  if (changed) {
    install_index(std::move(*idx), false);
  } else {
    // Same tree, same node numbers: the kernel's inodes, entries and page cache stay valid.
    // The new copy only brings its build time (the saved file's age) and confirms a reused one.
    _cur->idx = std::make_shared<const index>(std::move(*idx));
    _cur->provisional = false;
  }
  ++_counters.index_refreshes;
  save_index();
  if (changed && _forget_kernel_names) {
    status forgot = co_await _forget_kernel_names();
    if (!forgot) {
      // Kernels before 6.16: names resolved before the refresh stay until their entry timeout.
      log_warn("kernel_names_kept", {{"error", forgot.err().message}});
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log_info("index_refreshed", {{"objects", std::to_string(current_index().stats().objects)},
                               {"changed", changed ? "yes" : "no"},
                               {"generations", std::to_string(_gens.size())},
                               {"seconds", std::to_string(secs)}});
  co_return current_index().stats();
}

// ---- generations ----

void filesystem::install_index(index idx, bool provisional) {
  ++_installs;
  index_gen& old = *_cur;
  if (old.lookups == 0 && old.holds == 0) {
    // The kernel holds none of its inodes: replace it where it stands. Its inode numbers now
    // name other objects: forget what was cached under them.
    old.idx = std::make_shared<const index>(std::move(idx));
    old.provisional = provisional;
    _heads.clear();
  } else {
    const uint64_t base = std::max(old.base + old.idx->node_count(), _base_floor);
    index_gen& g = _gens[base];
    g.idx = std::make_shared<const index>(std::move(idx));
    g.base = base;
    g.provisional = provisional;
    _cur = &g;
    maybe_drop(old);
  }
  // Prefetch cursors are node numbers of the replaced index.
  _prefetch_cursor.clear();
}

std::optional<filesystem::node_ref> filesystem::find_node(uint64_t ino) {
  if (ino == index::root_ino) {
    return node_ref{_cur, ino};
  }
  auto it = _gens.lower_bound(ino);  // the first generation with base >= ino
  if (it == _gens.begin()) {
    return std::nullopt;
  }
  --it;
  const uint64_t node = ino - it->first;
  if (node <= index::root_ino || !it->second.idx->valid(node)) {
    return std::nullopt;
  }
  return node_ref{&it->second, node};
}

void filesystem::maybe_drop(index_gen& g) {
  if (&g != _cur && g.lookups == 0 && g.holds == 0) {
    log_info("index_generation_released",
             {{"base", std::to_string(g.base)}, {"nodes", std::to_string(g.idx->node_count())}});
    _gens.erase(g.base);
  }
}

std::optional<uint64_t> filesystem::current_node_of(const node_ref& r) const {
  if (r.gen == _cur) {
    return r.node;
  }
  // An older generation's directory: find the same path in the newest index.
  const index& now_idx = *_cur->idx;
  uint64_t node = index::root_ino;
  const std::string path = r.idx().path(r.node);
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) {
      slash = path.size();
    }
    if (!now_idx.is_dir(node)) {
      return std::nullopt;
    }
    auto child = now_idx.lookup(node, std::string_view(path).substr(pos, slash - pos));
    if (!child) {
      return std::nullopt;
    }
    node = *child;
    pos = slash + 1;
  }
  return node;
}

bool filesystem::keep_dir_cache(uint64_t ino) {
  if (_opts.mode != fs_mode::index) {
    return false;
  }
  auto r = find_node(ino);
  if (!r || r->gen != _cur) {
    return false;  // an older generation's directory: its listing is the new index's now
  }
  if (ino == index::root_ino) {
    const bool same = _root_cache_install == _installs;
    _root_cache_install = _installs;
    return same;
  }
  return true;
}

std::chrono::nanoseconds filesystem::entry_timeout_of(const index_gen& g) const {
  return g.provisional
             ? std::min<std::chrono::nanoseconds>(_opts.entry_timeout, provisional_timeout)
             : _opts.entry_timeout;
}

std::chrono::nanoseconds filesystem::attr_timeout_of(const index_gen& g) const {
  return g.provisional ? std::min<std::chrono::nanoseconds>(_opts.attr_timeout, provisional_timeout)
                       : _opts.attr_timeout;
}

std::chrono::nanoseconds filesystem::negative_timeout() const {
  if (_opts.mode == fs_mode::lazy) {
    return _opts.negative_timeout;
  }
  return entry_timeout_of(*_cur);
}

}  // namespace ossuring::fs
