// filesystem: metadata in index and lazy modes (attributes, directories), statfs, xattrs, and
// the parallel listing that builds the index. Lazy lookups: filesystem_lazy.cc; data:
// filesystem_read.cc.
#include "fs/filesystem.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "core/log.hh"
#include "fs/detail/async.hh"
#include "fs/detail/fs_util.hh"
#include "fs/errors.hh"
#include "http/oss/crc64.hh"

namespace ossuring::fs {

using detail::attrs_of;
using detail::enoent;

namespace {

constexpr std::string_view xattr_prefix = "user.oss.";
constexpr std::string_view xattr_meta_prefix = "user.oss.meta.";

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

// A fake but stable inode number for plain readdir entries of lazy mode that have no inode yet.
uint64_t name_hash_ino(std::string_view key) {
  return fnv1a64(key) | (1ull << 63);
}

}  // namespace

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

filesystem::filesystem(oss::object_client& client, fs_options opts,
                       std::unique_ptr<blob_store> blobs, clock_fn now)
    : _client(client),
      _opts(std::move(opts)),
      _blobs(blobs ? std::move(blobs) : std::make_unique<memory_blob_store>()),
      _now(now ? std::move(now) : clock_fn([] { return fs_clock::now(); })),
      _inodes(_opts.prefix),
      _negative(_opts.oss_negative_cache_timeout, _opts.oss_negative_cache_size),
      _background(std::make_unique<detail::task_group>()),
      _room(std::make_shared<detail::async_event>()) {
  index_gen& g = _gens[0];
  g.idx = std::make_shared<const index>();
  _cur = &g;
}

filesystem::~filesystem() {
  // Open files' read-ahead chunks count their bytes in _counters: they go first.
  _files.clear();
}

// ---- attributes ----

file_attr filesystem::make_attr(uint64_t ino, const object_attrs& a) const {
  file_attr f;
  f.ino = ino;
  f.size = a.is_dir ? 4096 : a.size;
  if (!_staged.empty() && !a.is_dir) {  // nothing to look up on read-only mounts
    if (auto s = _staged.find(ino); s != _staged.end()) {
      f.size = s->second->size;  // being written: what the writer wrote so far
    }
  }
  f.blocks = (f.size + 511) / 512;
  // A directory OSS knows only as a common prefix has no time of its own: it shows the time the
  // mount started, not 1970.
  f.mtime_sec = a.is_dir && a.mtime_sec == 0 ? _started_sec : a.mtime_sec;
  // OSS times have whole seconds: the nanoseconds carry a hash of the ETag, so that a rewrite
  // within the same second still changes mtime (and the kernel drops its cached pages).
  f.mtime_nsec = a.is_dir ? 0 : static_cast<uint32_t>(fnv1a64(a.etag) % 1000000000);
  f.mode = a.is_dir ? (S_IFDIR | (_opts.dir_mode & ~_opts.umask & 07777))
                    : (S_IFREG | (_opts.file_mode & ~_opts.umask & 07777));
  f.nlink = a.is_dir ? 2 : 1;
  f.uid = _opts.uid;
  f.gid = _opts.gid;
  return f;
}

entry_reply filesystem::make_entry(uint64_t ino, const object_attrs& a) const {
  return entry_reply{make_attr(ino, a), _opts.entry_timeout, _opts.attr_timeout};
}

object_attrs filesystem::index_attrs(const index& idx, uint64_t node) {
  object_attrs a;
  a.is_dir = idx.is_dir(node);
  a.size = idx.size(node);
  a.mtime_sec = idx.mtime(node);
  a.etag = idx.etag(node);
  a.storage = idx.storage(node);
  return a;
}

result<filesystem::node_info> filesystem::resolve(uint64_t ino) {
  if (_opts.mode == fs_mode::index) {
    auto r = find_node(ino);
    if (!r) {
      return make_error(ESTALE, "unknown inode " + std::to_string(ino));
    }
    node_info n;
    n.attrs = index_attrs(r->idx(), r->node);
    n.key = _opts.prefix + r->idx().path(r->node);
    if (n.attrs.is_dir && ino != index::root_ino) {
      n.key += '/';
    }
    return n;
  }
  lazy_inode* i = _inodes.get(ino);
  if (!i) {
    return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  return node_info{i->key, i->attrs};
}

task<result<entry_reply>> filesystem::lookup(uint64_t parent, std::string_view name) {
  if (_opts.mode == fs_mode::lazy) {
    co_return co_await lazy_lookup(parent, name);
  }
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
  co_return entry_reply{make_attr(ino, index_attrs(idx, *node)), entry_timeout_of(*_cur),
                        attr_timeout_of(*_cur)};
}

void filesystem::forget(uint64_t ino, uint64_t nlookup) {
  if (_opts.mode == fs_mode::lazy) {
    _inodes.forget(ino, nlookup);
    _heads.erase(ino);
    return;
  }
  _heads.erase(ino);
  if (ino == index::root_ino) {
    return;
  }
  if (auto r = find_node(ino)) {
    r->gen->lookups -= std::min(nlookup, r->gen->lookups);
    maybe_drop(*r->gen);
  }
}

task<result<attr_reply>> filesystem::getattr(uint64_t ino) {
  if (_opts.mode == fs_mode::index) {
    auto r = find_node(ino);
    if (!r) {
      co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
    }
    co_return attr_reply{make_attr(ino, index_attrs(r->idx(), r->node)), attr_timeout_of(*r->gen)};
  }
  lazy_inode* i = _inodes.get(ino);
  if (!i) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  auto t = now();
  if (ino == inode_table::root_ino || t < i->attr_expiry || _staged.contains(ino)) {
    co_return attr_reply{make_attr(ino, i->attrs), _opts.attr_timeout};
  }
  std::string key = i->key;
  if (i->attrs.is_dir) {
    // A directory exists while anything is under it: one LIST with max-keys 1.
    oss::list_request req{key, "/", "", "", 1};
    ++_counters.list_requests;
    auto page = co_await _client.list_objects_v2(req);
    if (!page) {
      co_return to_fs_error(std::move(page).err());
    }
    if (page->objects.empty() && page->common_prefixes.empty()) {
      co_return enoent(key);
    }
  } else {
    ++_counters.meta_requests;
    auto meta = co_await _client.get_object_meta(key);
    if (!meta) {
      co_return to_fs_error(std::move(meta).err());
    }
    if (!detail::valid_size(meta->size)) {
      log_warn("list_size_refused", {{"count", "1"},
                                     {"first", key + " size=" + std::to_string(meta->size)},
                                     {"rule", "docs/semantics.md#key-names"}});
      co_return detail::enoent(key);
    }
    i = _inodes.get(ino);  // the table may have changed while we waited
    if (!i) {
      co_return make_error(ESTALE, "inode forgotten");
    }
    storage_class sc = i->attrs.storage;
    i->attrs = attrs_of(*meta);
    i->attrs.storage = sc;  // GetObjectMeta does not report it
  }
  i = _inodes.get(ino);
  if (!i) {
    co_return make_error(ESTALE, "inode forgotten");
  }
  i->attr_expiry = now() + _opts.attr_timeout;
  co_return attr_reply{make_attr(ino, i->attrs), _opts.attr_timeout};
}

// ---- directories ----

task<result<uint64_t>> filesystem::opendir(uint64_t ino) {
  dir_handle h;
  h.ino = ino;
  if (_opts.mode == fs_mode::index) {
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
    h.gen = _cur;
    h.node = *node;
    ++h.gen->holds;
  } else {
    auto l = co_await lazy_list_dir(ino);
    if (!l) {
      co_return std::move(l).err();
    }
    h.listing = std::move(*l);
  }
  uint64_t fh = _next_fh++;
  _dirs.emplace(fh, std::move(h));
  co_return fh;
}

task<status> filesystem::readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
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
  const bool lazy = _opts.mode == fs_mode::lazy;
  uint64_t parent_ino = ino;
  if (lazy) {
    lazy_inode* d = _inodes.get(ino);
    parent_ino = d ? d->parent : ino;
  } else {
    parent_ino = kernel_ino(*h.gen, h.gen->idx->parent(h.node));
  }
  // Offsets: 0 ".", 1 "..", 2 + i the i-th child; an entry's cookie is its offset + 1.
  object_attrs dir_attrs;
  dir_attrs.is_dir = true;
  for (uint64_t off = offset; off < 2; ++off) {
    dir_entry e;
    e.name = off == 0 ? "." : "..";
    e.ino = off == 0 ? ino : parent_ino;
    e.is_dir = true;
    e.next_offset = off + 1;
    e.attr = make_attr(e.ino, dir_attrs);
    if (!emit(e)) {
      co_return status{};
    }
  }
  uint64_t first = std::max<uint64_t>(offset, 2) - 2;
  if (!lazy) {
    index_gen& g = *h.gen;
    const index& idx = *g.idx;
    uint64_t base = idx.first_child(h.node);
    uint32_t count = idx.child_count(h.node);
    for (uint64_t i = first; i < count; ++i) {
      uint64_t child = base + i;
      dir_entry e;
      e.name = idx.name(child);
      e.ino = kernel_ino(g, child);
      e.is_dir = idx.is_dir(child);
      e.next_offset = i + 3;
      if (plus) {
        e.attr = make_attr(e.ino, index_attrs(idx, child));
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
  lazy_inode* d = _inodes.get(ino);
  const std::string dir_key = d ? d->key : std::string();
  auto listing = h.listing;  // keep the snapshot alive across emits
  // An old snapshot (a directory read slowly) must not put back attributes learnt since.
  const auto expiry = listing->expiry;
  for (uint64_t i = first; i < listing->entries.size(); ++i) {
    const auto& le = listing->entries[i];
    std::string key = dir_key + le.name + (le.attrs.is_dir ? "/" : "");
    dir_entry e;
    e.name = le.name;
    e.is_dir = le.attrs.is_dir;
    e.next_offset = i + 3;
    if (plus) {
      // The listing carries every attribute: no HEAD per entry. The inode is counted only
      // once the entry was actually sent.
      uint64_t child = _inodes.intern(ino, key, le.attrs, expiry);
      e.ino = child;
      e.attr = make_attr(child, _inodes.get(child)->attrs);
      e.entry_timeout = _opts.entry_timeout;
      e.attr_timeout = _opts.attr_timeout;
      if (!emit(e)) {
        if (lazy_inode* c = _inodes.get(child); c && c->nlookup == 0) {
          _inodes.forget(child, 0);
        }
        break;
      }
      _inodes.add_lookup(child);
    } else {
      e.ino = name_hash_ino(key);
      if (!emit(e)) {
        break;
      }
    }
  }
  co_return status{};
}

void filesystem::releasedir(uint64_t ino, uint64_t fh) {
  auto it = _dirs.find(fh);
  if (it == _dirs.end() || it->second.ino != ino) {
    return;  // not ours (a handle of a replaced daemon, never used here)
  }
  index_gen* g = it->second.gen;
  _dirs.erase(it);
  if (g) {
    --g->holds;
    maybe_drop(*g);
  }
}

// ---- statfs, xattr ----

task<result<fs_statfs>> filesystem::statfs(uint64_t) {
  fs_statfs s;
  // Object storage has no capacity limit worth reporting: a large constant keeps df and
  // free-space checks of copying tools happy.
  s.blocks = 1ull << 40;
  s.bfree = s.bavail = 0;
  s.files = _opts.mode == fs_mode::index ? current_index().node_count() : _inodes.size();
  s.ffree = 0;
  if (_opts.writable) {
    // No quota to report either: a writable mount that showed no free space would make
    // programs that check before writing (installers, download managers) refuse.
    s.bfree = s.bavail = s.blocks;
    s.ffree = 1ull << 32;
  }
  co_return s;
}

task<result<oss::object_info>> filesystem::head_cached(uint64_t ino, const std::string& key) {
  auto t = now();
  if (auto it = _heads.find(ino); it != _heads.end() && t < it->second.second) {
    co_return it->second.first;
  }
  ++_counters.meta_requests;
  auto h = co_await _client.head_object(key);
  if (!h) {
    co_return to_fs_error(std::move(h).err());
  }
  _heads[ino] = {*h, now() + _opts.attr_timeout};
  co_return std::move(*h);
}

task<result<std::string>> filesystem::getxattr(uint64_t ino, std::string_view name) {
  auto n = resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  // Only our own namespace is answered; everything else (security.*, system.*) costs nothing.
  if (n->attrs.is_dir || name.substr(0, xattr_prefix.size()) != xattr_prefix) {
    co_return make_error(ENODATA, "no such attribute");
  }
  if (name == "user.oss.etag") {
    if (n->attrs.etag.empty()) {
      co_return make_error(ENODATA, "no ETag");
    }
    co_return n->attrs.etag;
  }
  if (name == "user.oss.storage_class") {
    co_return std::string(storage_class_name(n->attrs.storage));
  }
  if (name == "user.oss.crc64" || name.substr(0, xattr_meta_prefix.size()) == xattr_meta_prefix) {
    auto h = co_await head_cached(ino, n->key);
    if (!h) {
      co_return std::move(h).err();
    }
    if (name == "user.oss.crc64") {
      if (!h->crc64) {
        co_return make_error(ENODATA, "no CRC-64");
      }
      co_return std::to_string(*h->crc64);
    }
    auto it = h->user_meta.find(std::string(name.substr(xattr_meta_prefix.size())));
    if (it == h->user_meta.end()) {
      co_return make_error(ENODATA, "no such attribute");
    }
    co_return it->second;
  }
  co_return make_error(ENODATA, "no such attribute");
}

task<result<std::vector<std::string>>> filesystem::listxattr(uint64_t ino) {
  auto n = resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  std::vector<std::string> names;
  if (n->attrs.is_dir) {
    co_return names;
  }
  if (!n->attrs.etag.empty()) {
    names.emplace_back("user.oss.etag");
  }
  names.emplace_back("user.oss.storage_class");
  names.emplace_back("user.oss.crc64");
  // User metadata needs a HEAD: list it only when one is cached (listxattr stays free).
  if (auto it = _heads.find(ino); it != _heads.end() && now() < it->second.second) {
    for (const auto& [k, v] : it->second.first.user_meta) {
      names.push_back(std::string(xattr_meta_prefix) + k);
    }
  }
  co_return names;
}

}  // namespace ossuring::fs
