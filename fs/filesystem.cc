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

// A fake but stable inode number for plain readdir entries of lazy mode that have no inode yet.
uint64_t name_hash_ino(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h | (1ull << 63);
}

}  // namespace

struct filesystem::build_state {
  index_builder builder;
  detail::task_group group;
  std::optional<error> failure;
  uint64_t requests = 0;
};

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
      _room(std::make_shared<detail::async_event>()) {}

filesystem::~filesystem() {
  // Open files' read-ahead chunks count their bytes in _counters: they go first.
  _files.clear();
}

// ---- index ----

task<void> filesystem::list_worker(build_state& st, std::string start_after,
                                   std::optional<std::string> last) {
  oss::list_request req;
  req.prefix = _opts.prefix;
  req.start_after = std::move(start_after);
  req.max_keys = 1000;
  const std::string sentinel = _opts.prefix + "\x7f";
  while (!st.failure) {
    auto page = co_await _client.list_objects_v2(req);
    ++st.requests;
    ++_counters.list_requests;
    if (!page) {
      if (!st.failure) {
        st.failure = to_fs_error(std::move(page).err());
      }
      co_return;
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

task<result<index_stats>> filesystem::build_index() {
  build_state st{index_builder(_opts.prefix), {}, std::nullopt, 0};
  st.group.spawn(list_worker(st, std::string(), std::nullopt));
  co_await st.group.wait();
  if (st.failure) {
    co_return std::move(*st.failure);
  }
  _index = std::move(st.builder).finish(static_cast<int64_t>(std::time(nullptr)));
  const index_stats& s = _index.stats();
  if (s.skipped_keys > 0) {
    log_warn("index_skipped_keys", {{"count", std::to_string(s.skipped_keys)},
                                    {"first", s.first_skipped},
                                    {"rule", "docs/semantics.md#key-names"}});
  }
  log_info("index_built", {{"objects", std::to_string(s.objects)},
                           {"directories", std::to_string(s.directories)},
                           {"list_requests", std::to_string(st.requests)}});
  co_return s;
}

void filesystem::adopt_index(index idx) {
  _index = std::move(idx);
}

task<result<index_stats>> filesystem::load_or_build_index(const std::string& file,
                                                          std::chrono::seconds max_age,
                                                          bool* reused) {
  if (reused) {
    *reused = false;
  }
  auto loaded = index::load(file, _opts.bucket, _opts.prefix);
  const int64_t wall = static_cast<int64_t>(std::time(nullptr));
  if (loaded && wall - loaded->build_time() < max_age.count() && loaded->build_time() <= wall) {
    _index = std::move(*loaded);
    if (reused) {
      *reused = true;
    }
    log_info("index_reused", {{"file", file}, {"objects", std::to_string(_index.stats().objects)}});
    co_return _index.stats();
  }
  if (!loaded && loaded.err().code != ENOENT) {
    log_warn("index_file_refused", {{"file", file}, {"reason", loaded.err().message}});
  }
  auto built = co_await build_index();
  if (!built) {
    co_return built;
  }
  if (auto saved = _index.save(file, _opts.bucket, _opts.prefix); !saved) {
    log_warn("index_save_failed", {{"file", file}, {"reason", saved.err().message}});
  }
  co_return built;
}

// ---- attributes ----

file_attr filesystem::make_attr(uint64_t ino, const object_attrs& a) const {
  file_attr f;
  f.ino = ino;
  f.size = a.is_dir ? 4096 : a.size;
  f.blocks = (f.size + 511) / 512;
  f.mtime_sec = a.mtime_sec;
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

object_attrs filesystem::index_attrs(uint64_t ino) const {
  object_attrs a;
  a.is_dir = _index.is_dir(ino);
  a.size = _index.size(ino);
  a.mtime_sec = _index.mtime(ino);
  a.etag = _index.etag(ino);
  a.storage = _index.storage(ino);
  return a;
}

result<filesystem::node_info> filesystem::resolve(uint64_t ino) {
  if (_opts.mode == fs_mode::index) {
    if (!_index.valid(ino)) {
      return make_error(ESTALE, "unknown inode " + std::to_string(ino));
    }
    node_info n;
    n.attrs = index_attrs(ino);
    n.key = _opts.prefix + _index.path(ino);
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
  if (!_index.valid(parent)) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(parent));
  }
  if (!_index.is_dir(parent)) {
    co_return make_error(ENOTDIR, "not a directory");
  }
  auto ino = _index.lookup(parent, name);
  if (!ino) {
    co_return enoent(name);
  }
  co_return make_entry(*ino, index_attrs(*ino));
}

void filesystem::forget(uint64_t ino, uint64_t nlookup) {
  // Index inodes live as long as the index; only lazy inodes are counted and freed.
  if (_opts.mode == fs_mode::lazy) {
    _inodes.forget(ino, nlookup);
    _heads.erase(ino);
  }
}

task<result<attr_reply>> filesystem::getattr(uint64_t ino) {
  if (_opts.mode == fs_mode::index) {
    if (!_index.valid(ino)) {
      co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
    }
    co_return attr_reply{make_attr(ino, index_attrs(ino)), _opts.attr_timeout};
  }
  lazy_inode* i = _inodes.get(ino);
  if (!i) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  auto t = now();
  if (ino == inode_table::root_ino || t < i->attr_expiry) {
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
    if (!_index.valid(ino)) {
      co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
    }
    if (!_index.is_dir(ino)) {
      co_return make_error(ENOTDIR, "not a directory");
    }
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
    parent_ino = _index.parent(ino);
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
    uint64_t base = _index.first_child(ino);
    uint32_t count = _index.child_count(ino);
    for (uint64_t i = first; i < count; ++i) {
      uint64_t child = base + i;
      dir_entry e;
      e.name = _index.name(child);
      e.ino = child;
      e.is_dir = _index.is_dir(child);
      e.next_offset = i + 3;
      if (plus) {
        e.attr = make_attr(child, index_attrs(child));
        e.entry_timeout = _opts.entry_timeout;
        e.attr_timeout = _opts.attr_timeout;
      }
      if (!emit(e)) {
        break;
      }
    }
    co_return status{};
  }
  lazy_inode* d = _inodes.get(ino);
  const std::string dir_key = d ? d->key : std::string();
  auto listing = h.listing;  // keep the snapshot alive across emits
  auto expiry = now() + _opts.attr_timeout;
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
      e.attr = make_attr(child, le.attrs);
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

void filesystem::releasedir(uint64_t, uint64_t fh) {
  _dirs.erase(fh);
}

// ---- statfs, xattr ----

task<result<fs_statfs>> filesystem::statfs(uint64_t) {
  fs_statfs s;
  // Object storage has no capacity limit worth reporting: a large constant keeps df and
  // free-space checks of copying tools happy.
  s.blocks = 1ull << 40;
  s.bfree = s.bavail = 0;
  s.files = _opts.mode == fs_mode::index ? _index.node_count() : _inodes.size();
  s.ffree = 0;
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
