// index_metadata: lookups, attributes and directory listings from the index, and index
// generations, which let a refresh replace the index under a live mount. The listing that builds
// an index, the saved index and refreshes: index_build.cc.
//
// Index generations. Node numbers change from one listing to the next, but the kernel keeps the
// inode numbers it was given (cached dentries, open files, cwd). So each installed index is a
// generation with its own range of kernel inode numbers, base + node (the root is always 1 and
// belongs to the newest). Lookups and directory listings always answer from the newest
// generation, translating an older directory by its path; everything else an old inode asks
// (getattr, open, xattrs) is answered from the generation it came from, which stays alive while
// the kernel holds any of its inodes (its lookups not yet forgotten) or an open directory handle
// on it. Until the kernel has seen a generation's inodes, a new index replaces it in place.
#include "fs/meta/index_meta.hh"

#include <algorithm>

#include "core/log.hh"
#include "fs/detail/fs_util.hh"

namespace ossuring::fs {

using detail::enoent;

index_metadata::index_metadata(fs_context& ctx, std::function<void(bool)> on_install)
    : _ctx(ctx), _on_install(std::move(on_install)) {
  index_gen& g = _gens[0];
  g.idx = std::make_shared<const index>();
  _cur = &g;
}

index_metadata::~index_metadata() = default;

object_attrs index_metadata::attrs_at(const index& idx, uint64_t node) {
  object_attrs a;
  a.is_dir = idx.is_dir(node);
  a.size = idx.size(node);
  a.mtime_sec = idx.mtime(node);
  a.etag = idx.etag(node);
  a.storage = idx.storage(node);
  return a;
}

result<node_info> index_metadata::resolve(uint64_t ino) {
  auto r = find_node(ino);
  if (!r) {
    return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  node_info n;
  n.attrs = attrs_at(r->idx(), r->node);
  n.key = _ctx.opts.prefix + r->idx().path(r->node);
  if (n.attrs.is_dir && ino != index::root_ino) {
    n.key += '/';
  }
  return n;
}

task<result<entry_reply>> index_metadata::lookup(uint64_t parent, std::string_view name) {
  auto p = find_node(parent);
  if (!p) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(parent));
  }
  if (!p->idx().is_dir(p->node)) {
    co_return make_error(ENOTDIR, "not a directory");
  }
  // Always answered from the newest index, whatever generation the parent came from.
  auto dir = current_node_of(*p);
  if (!dir) {
    co_return enoent(name);
  }
  const index& idx = *_cur->idx;
  auto node = idx.lookup(*dir, name);
  if (!node) {
    co_return enoent(name);
  }
  const uint64_t ino = kernel_ino(*_cur, *node);
  ++_cur->lookups;
  co_return entry_reply{_ctx.make_attr(ino, attrs_at(idx, *node)), entry_timeout_of(*_cur),
                        attr_timeout_of(*_cur)};
}

void index_metadata::forget(uint64_t ino, uint64_t nlookup) {
  if (ino == index::root_ino) {
    return;
  }
  if (auto r = find_node(ino)) {
    r->gen->lookups -= std::min(nlookup, r->gen->lookups);
    maybe_drop(*r->gen);
  }
}

task<result<attr_reply>> index_metadata::getattr(uint64_t ino) {
  auto r = find_node(ino);
  if (!r) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  co_return attr_reply{_ctx.make_attr(ino, attrs_at(r->idx(), r->node)), attr_timeout_of(*r->gen)};
}

// ---- directories ----

task<result<uint64_t>> index_metadata::opendir(uint64_t ino) {
  auto r = find_node(ino);
  if (!r) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  if (!r->idx().is_dir(r->node)) {
    co_return make_error(ENOTDIR, "not a directory");
  }
  // Listed from the newest index, whatever generation the kernel's inode came from.
  auto node = current_node_of(*r);
  if (!node) {
    co_return make_error(ENOENT, "directory gone from the refreshed index");
  }
  dir_handle h;
  h.ino = ino;
  h.gen = _cur;
  h.node = *node;
  ++h.gen->holds;
  uint64_t fh = _ctx.next_fh++;
  _dirs.emplace(fh, h);
  co_return fh;
}

task<status> index_metadata::readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                                     const dir_emit& emit) {
  auto it = _dirs.find(fh);
  if (it == _dirs.end() && fh != 0 && fh < _fh_floor) {
    // A handle of the daemon this one replaced (--supervise): the restored index lists the
    // same entries at the same offsets, so the listing goes on where it was.
    auto fresh = co_await opendir(ino);
    if (!fresh) {
      co_return std::move(fresh).err();
    }
    auto moved = _dirs.extract(*fresh);
    moved.key() = fh;
    it = _dirs.insert(std::move(moved)).position;
  }
  if (it == _dirs.end() || it->second.ino != ino) {
    co_return make_error(EBADF, "bad directory handle");
  }
  const dir_handle& h = it->second;
  index_gen& g = *h.gen;
  const index& idx = *g.idx;
  // Offsets: 0 ".", 1 "..", 2 + i the i-th child; an entry's cookie is its offset + 1.
  if (!emit_dots(_ctx, ino, kernel_ino(g, idx.parent(h.node)), offset, emit)) {
    co_return status{};
  }
  const uint64_t first = std::max<uint64_t>(offset, 2) - 2;
  const uint64_t base = idx.first_child(h.node);
  const uint32_t count = idx.child_count(h.node);
  for (uint64_t i = first; i < count; ++i) {
    uint64_t child = base + i;
    dir_entry e;
    e.name = idx.name(child);
    e.ino = kernel_ino(g, child);
    e.is_dir = idx.is_dir(child);
    e.next_offset = i + 3;
    if (plus) {
      e.attr = _ctx.make_attr(e.ino, attrs_at(idx, child));
      e.entry_timeout = entry_timeout_of(g);
      e.attr_timeout = attr_timeout_of(g);
    }
    if (!emit(e)) {
      break;
    }
    if (plus) {
      ++g.lookups;  // the kernel counts a lookup for every entry it took
    }
  }
  co_return status{};
}

void index_metadata::releasedir(uint64_t ino, uint64_t fh) {
  auto it = _dirs.find(fh);
  if (it == _dirs.end() || it->second.ino != ino) {
    return;  // not ours (a handle of a replaced daemon, never used here)
  }
  index_gen* g = it->second.gen;
  _dirs.erase(it);
  --g->holds;
  maybe_drop(*g);
}

bool index_metadata::keep_dir_cache(uint64_t ino) {
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

std::optional<sibling_view> index_metadata::siblings(uint64_t ino) {
  if (ino == index::root_ino) {
    return std::nullopt;
  }
  auto r = find_node(ino);
  if (!r || r->gen != _cur) {
    return std::nullopt;  // an inode of a replaced index: its siblings are no longer where they
                          // were
  }
  const index& idx = r->idx();
  sibling_view v;
  v.dir = idx.parent(r->node);
  v.first = idx.first_child(v.dir);
  v.count = idx.child_count(v.dir);
  if (r->node < v.first || r->node >= v.first + v.count) {
    return std::nullopt;
  }
  v.pos = r->node - v.first;
  v.idx = r->gen->idx;
  return v;
}

// ---- generations ----

void index_metadata::restore(index idx, const index_restore& r) {
  _gens.clear();
  index_gen& g = _gens[r.base];
  g.base = r.base;
  g.holds = 1;  // held by the kernel as far as we know: never dropped or replaced in place
  g.provisional = r.provisional;
  g.idx = std::make_shared<const index>(std::move(idx));
  _cur = &g;
  _on_install(true);
  ++_installs;
  _index_file = r.file;
  _base_floor = r.base + g.idx->node_count() + (uint64_t{1} << 40);
  _fh_floor = (uint64_t{r.restarts} + 1) << 48;
  _ctx.next_fh = std::max(_ctx.next_fh, _fh_floor);
}

void index_metadata::install(index idx, bool provisional) {
  ++_installs;
  index_gen& old = *_cur;
  if (old.lookups == 0 && old.holds == 0) {
    // The kernel holds none of its inodes: replace it where it stands. Its inode numbers now
    // name other objects: forget what was cached under them.
    old.idx = std::make_shared<const index>(std::move(idx));
    old.provisional = provisional;
    _on_install(true);
    return;
  }
  const uint64_t base = std::max(old.base + old.idx->node_count(), _base_floor);
  index_gen& g = _gens[base];
  g.idx = std::make_shared<const index>(std::move(idx));
  g.base = base;
  g.provisional = provisional;
  _cur = &g;
  maybe_drop(old);
  _on_install(false);
}

std::optional<index_metadata::node_ref> index_metadata::find_node(uint64_t ino) {
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

void index_metadata::maybe_drop(index_gen& g) {
  if (&g != _cur && g.lookups == 0 && g.holds == 0) {
    log_info("index_generation_released",
             {{"base", std::to_string(g.base)}, {"nodes", std::to_string(g.idx->node_count())}});
    _gens.erase(g.base);
  }
}

std::optional<uint64_t> index_metadata::current_node_of(const node_ref& r) const {
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

std::chrono::nanoseconds index_metadata::entry_timeout_of(const index_gen& g) const {
  return g.provisional
             ? std::min<std::chrono::nanoseconds>(_ctx.opts.entry_timeout, provisional_timeout)
             : _ctx.opts.entry_timeout;
}

std::chrono::nanoseconds index_metadata::attr_timeout_of(const index_gen& g) const {
  return g.provisional
             ? std::min<std::chrono::nanoseconds>(_ctx.opts.attr_timeout, provisional_timeout)
             : _ctx.opts.attr_timeout;
}

std::chrono::nanoseconds index_metadata::negative_timeout() const {
  return entry_timeout_of(*_cur);
}

}  // namespace ossuring::fs
