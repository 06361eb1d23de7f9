// lazy_metadata: lookups with one LIST, attributes refreshed after attr_timeout, directory
// listings on demand, and the cached listings writes keep true.
#include "fs/meta/lazy_meta.hh"

#include <algorithm>

#include "core/log.hh"
#include "fs/detail/fs_util.hh"
#include "fs/errors.hh"
#include "http/oss/list_guard.hh"

namespace ossuring::fs {

using detail::attrs_of;
using detail::enoent;
using detail::valid_name;
using detail::valid_size;

namespace {

// A fake but stable inode number for plain readdir entries that have no inode yet.
uint64_t name_hash_ino(std::string_view key) {
  return detail::fnv1a64(key) | (1ull << 63);
}

}  // namespace

lookup_probe read_lookup_page(const oss::list_page& page, std::string_view file_key,
                              std::string_view dir_key) {
  lookup_probe r;
  std::string_view greatest;  // the last entry of the page, in key order
  for (const auto& o : page.objects) {
    if (o.key == file_key) {
      r.file = attrs_of(o);
    } else if (o.key.starts_with(dir_key)) {
      r.is_dir = true;  // a server that did not group by the delimiter
    }
    greatest = std::max(greatest, o.key);
  }
  for (const auto& p : page.common_prefixes) {
    if (p == dir_key) {
      r.is_dir = true;
    }
    greatest = std::max(greatest, std::string_view(p));
  }
  const bool empty = page.objects.empty() && page.common_prefixes.empty();
  // `name` sorts before every other key with its prefix: any entry at all settles it.
  r.file_settled = r.file || !page.truncated || !empty;
  // `name/` would have been listed before any entry above it.
  r.dir_settled = r.is_dir || !page.truncated || greatest > dir_key;
  return r;
}

lazy_metadata::lazy_metadata(fs_context& ctx)
    : _ctx(ctx),
      _inodes(ctx.opts.prefix),
      _negative(ctx.opts.oss_negative_cache_timeout, ctx.opts.oss_negative_cache_size) {}

result<node_info> lazy_metadata::resolve(uint64_t ino) {
  lazy_inode* i = _inodes.get(ino);
  if (!i) {
    return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  return node_info{i->key, i->attrs};
}

bool lazy_metadata::describes(uint64_t ino, const std::string& etag, uint64_t size) {
  // Called for every daemon READ in noopen mode: compare attributes, build no key.
  const lazy_inode* i = _inodes.get(ino);
  return i && i->attrs.etag == etag && i->attrs.size == size;
}

task<result<entry_reply>> lazy_metadata::lookup(uint64_t parent, std::string_view name) {
  lazy_inode* p = _inodes.get(parent);
  if (!p) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(parent));
  }
  if (!p->attrs.is_dir) {
    co_return make_error(ENOTDIR, "not a directory");
  }
  if (!valid_name(name)) {
    co_return enoent(name);
  }
  const std::string file_key = p->key + std::string(name);
  const std::string dir_key = file_key + "/";
  auto t = _ctx.now();
  auto expiry = t + _ctx.opts.attr_timeout;
  auto answer = [&](const std::string& key, const object_attrs& a,
                    fs_clock::time_point trusted_until) -> entry_reply {
    uint64_t ino = _inodes.intern(parent, key, a, trusted_until);
    _inodes.add_lookup(ino);
    return _ctx.make_entry(ino, _inodes.get(ino)->attrs);
  };
  // 0. A file being written here may not be in OSS yet.
  // (A key lookup per name only while something is staged: reads pay nothing for writes.)
  if (uint64_t ino = _ctx.staged.empty() ? 0 : _inodes.find(file_key);
      ino != 0 && _ctx.staged.contains(ino)) {
    _inodes.add_lookup(ino);
    co_return _ctx.make_entry(ino, _inodes.get(ino)->attrs);
  }
  // 1. A fresh listing of the parent answers both ways without a request.
  if (p->listing && t < p->listing_expiry) {
    const auto* e = p->listing->find(name);
    if (!e) {
      co_return enoent(file_key);
    }
    co_return answer(e->attrs.is_dir ? dir_key : file_key, e->attrs, p->listing->expiry);
  }
  // 2. The negative cache (ossfs 2.0 oss_negative_cache_*).
  if (_negative.contains(file_key, t)) {
    ++_ctx.counters.negative_hits;
    co_return enoent(file_key);
  }
  // 3. One small LIST with the name as prefix (docs/semantics.md "Lazy mode"). Keys sort
  // bytewise, so the object `name`, if any, is the first entry, and the directory `name/` shows
  // as a common prefix at its place. Only names between the two (`name.txt`, `name-1`: a byte
  // below '/' after the name) can push `name/` past the page, and the page says when: it is
  // truncated and its last entry sorts below `name/`. Then one LIST of `name/` with max-keys 1
  // settles the directory (and a HEAD the object, if the server sent an empty truncated page).
  oss::list_request req{file_key, "/", "", "", lookup_page_keys};
  ++_ctx.counters.list_requests;
  auto page = co_await _ctx.client.list_objects_v2(req);
  if (page) {
    oss::list_guard guard(_ctx.opts.bucket, req);
    if (status ok = guard.check(*page); !ok) {
      page = std::move(ok).err();
    }
  }
  if (!page) {
    co_return to_fs_error(std::move(page).err());
  }
  const lookup_probe probe = read_lookup_page(*page, file_key, dir_key);
  bool is_dir = probe.is_dir;
  std::optional<object_attrs> file = probe.file;
  if (!probe.dir_settled) {
    oss::list_request dreq{dir_key, "", "", "", 1};
    ++_ctx.counters.list_requests;
    auto dpage = co_await _ctx.client.list_objects_v2(dreq);
    if (!dpage) {
      co_return to_fs_error(std::move(dpage).err());
    }
    is_dir = !dpage->objects.empty() || !dpage->common_prefixes.empty();
  }
  if (!is_dir && !probe.file_settled) {
    ++_ctx.counters.meta_requests;
    auto meta = co_await _ctx.client.get_object_meta(file_key);
    if (meta) {
      file = attrs_of(*meta);
    } else if (meta.err().http_status != 404 && errno_for(meta.err()) != ENOENT) {
      co_return to_fs_error(std::move(meta).err());
    }
  }
  if (is_dir) {
    object_attrs a;
    a.is_dir = true;
    _negative.erase(file_key);
    co_return answer(dir_key, a, expiry);
  }
  if (file && !valid_size(file->size)) {
    log_warn("list_size_refused", {{"count", "1"},
                                   {"first", file_key + " size=" + std::to_string(file->size)},
                                   {"prefix", file_key},
                                   {"rule", "docs/semantics.md#key-names"}});
    co_return enoent(file_key);
  }
  if (file) {
    _negative.erase(file_key);
    co_return answer(file_key, *file, expiry);
  }
  _negative.insert(file_key, _ctx.now());
  co_return enoent(file_key);
}

task<result<attr_reply>> lazy_metadata::getattr(uint64_t ino) {
  lazy_inode* i = _inodes.get(ino);
  if (!i) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  auto t = _ctx.now();
  if (ino == inode_table::root_ino || t < i->attr_expiry || _ctx.staged.contains(ino)) {
    co_return attr_reply{_ctx.make_attr(ino, i->attrs), _ctx.opts.attr_timeout};
  }
  std::string key = i->key;
  if (i->attrs.is_dir) {
    // A directory exists while anything is under it: one LIST with max-keys 1.
    oss::list_request req{key, "/", "", "", 1};
    ++_ctx.counters.list_requests;
    auto page = co_await _ctx.client.list_objects_v2(req);
    if (!page) {
      co_return to_fs_error(std::move(page).err());
    }
    if (page->objects.empty() && page->common_prefixes.empty()) {
      co_return enoent(key);
    }
  } else {
    ++_ctx.counters.meta_requests;
    auto meta = co_await _ctx.client.get_object_meta(key);
    if (!meta) {
      co_return to_fs_error(std::move(meta).err());
    }
    if (!detail::valid_size(meta->size)) {
      log_warn("list_size_refused", {{"count", "1"},
                                     {"first", key + " size=" + std::to_string(meta->size)},
                                     {"rule", "docs/semantics.md#key-names"}});
      co_return enoent(key);
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
  i->attr_expiry = _ctx.now() + _ctx.opts.attr_timeout;
  co_return attr_reply{_ctx.make_attr(ino, i->attrs), _ctx.opts.attr_timeout};
}

// ---- directories ----

task<result<uint64_t>> lazy_metadata::opendir(uint64_t ino) {
  auto l = co_await list_dir(ino);
  if (!l) {
    co_return std::move(l).err();
  }
  uint64_t fh = _ctx.next_fh++;
  _dirs.emplace(fh, dir_handle{ino, std::move(*l)});
  co_return fh;
}

task<status> lazy_metadata::readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                                    const dir_emit& emit) {
  auto it = _dirs.find(fh);
  if (it == _dirs.end() || it->second.ino != ino) {
    co_return make_error(EBADF, "bad directory handle");
  }
  lazy_inode* d = _inodes.get(ino);
  const std::string dir_key = d ? d->key : std::string();
  // Offsets: 0 ".", 1 "..", 2 + i the i-th child; an entry's cookie is its offset + 1.
  if (!emit_dots(_ctx, ino, d ? d->parent : ino, offset, emit)) {
    co_return status{};
  }
  const uint64_t first = std::max<uint64_t>(offset, 2) - 2;
  auto listing = it->second.listing;  // keep the snapshot alive across emits
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
      e.attr = _ctx.make_attr(child, _inodes.get(child)->attrs);
      e.entry_timeout = _ctx.opts.entry_timeout;
      e.attr_timeout = _ctx.opts.attr_timeout;
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

void lazy_metadata::releasedir(uint64_t ino, uint64_t fh) {
  if (auto it = _dirs.find(fh); it != _dirs.end() && it->second.ino == ino) {
    _dirs.erase(it);
  }
}

task<result<std::shared_ptr<const dir_listing>>> lazy_metadata::list_dir(uint64_t ino) {
  lazy_inode* d = _inodes.get(ino);
  if (!d) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  if (!d->attrs.is_dir) {
    co_return make_error(ENOTDIR, "not a directory");
  }
  if (d->listing && _ctx.now() < d->listing_expiry) {
    co_return d->listing;
  }
  const std::string dir_key = d->key;
  auto listing = std::make_shared<dir_listing>();
  // What the pages say is as old as the first of them.
  listing->expiry = _ctx.now() + _ctx.opts.attr_timeout;
  oss::list_request req{dir_key, "/", "", "", _ctx.opts.list_page_size};
  // A page that does not advance ends the listing with EIO: `ls` fails instead of never
  // returning. Keys outside the directory's prefix are dropped.
  oss::list_guard guard(_ctx.opts.bucket, req);
  uint64_t absurd = 0;  // objects skipped for a size stat cannot show
  std::string first_absurd;
  while (true) {
    ++_ctx.counters.list_requests;
    auto page = co_await _ctx.client.list_objects_v2(req);
    if (page) {
      if (status ok = guard.check(*page); !ok) {
        page = std::move(ok).err();
      }
    }
    if (!page) {
      co_return to_fs_error(std::move(page).err());
    }
    for (const auto& o : page->objects) {
      std::string_view nm = std::string_view(o.key).substr(dir_key.size());
      if (!valid_name(nm)) {
        continue;
      }
      if (!valid_size(o.size)) {
        if (absurd++ == 0) {
          first_absurd = std::string(o.key) + " size=" + std::to_string(o.size);
        }
        continue;
      }
      listing->entries.push_back({std::string(nm), attrs_of(o)});
    }
    for (const auto& p : page->common_prefixes) {
      std::string_view nm = std::string_view(p).substr(dir_key.size());
      nm.remove_suffix(1);
      if (valid_name(nm)) {
        object_attrs a;
        a.is_dir = true;
        a.mtime_sec = 0;
        listing->entries.push_back({std::string(nm), a});
      }
    }
    if (!page->truncated) {
      break;
    }
    req.continuation_token = page->next_continuation_token;
  }
  if (guard.skipped() > 0) {
    log_warn("list_keys_outside_prefix", {{"count", std::to_string(guard.skipped())},
                                          {"first", guard.first_skipped()},
                                          {"prefix", dir_key},
                                          {"rule", "docs/semantics.md#key-names"}});
  }
  if (absurd > 0) {
    log_warn("list_size_refused", {{"count", std::to_string(absurd)},
                                   {"first", first_absurd},
                                   {"prefix", dir_key},
                                   {"rule", "docs/semantics.md#key-names"}});
  }
  // Files created here and not yet uploaded (staged files are few: those open for writing).
  for (const auto& [sino, s] : _ctx.staged) {
    std::string_view nm = s->key;
    if (!s->unlinked && nm.size() > dir_key.size() && nm.starts_with(dir_key) &&
        nm.find('/', dir_key.size()) == std::string_view::npos) {
      nm.remove_prefix(dir_key.size());
      if (lazy_inode* si = _inodes.get(sino)) {
        listing->entries.push_back({std::string(nm), si->attrs});
      }
    }
  }
  auto& es = listing->entries;
  // Directories sort before files of the same name so that the directory wins below.
  std::stable_sort(es.begin(), es.end(), [](const auto& a, const auto& b) {
    return a.name != b.name ? a.name < b.name : (a.attrs.is_dir && !b.attrs.is_dir);
  });
  es.erase(std::unique(es.begin(), es.end(),
                       [](const auto& a, const auto& b) { return a.name == b.name; }),
           es.end());
  d = _inodes.get(ino);
  if (d) {
    d->listing = listing;
    d->listing_expiry = listing->expiry;
  }
  // A name the listing shows exists, whatever an earlier lookup remembered: once the listing
  // expires, a lookup must not answer ENOENT from the negative cache for it.
  if (_negative.size() > 0) {
    std::string key = dir_key;
    for (const auto& e : es) {
      key.resize(dir_key.size());
      key += e.name;
      _negative.erase(key);
    }
  }
  co_return std::shared_ptr<const dir_listing>(listing);
}

void lazy_metadata::listing_put(uint64_t dir, std::string_view name, const object_attrs* a) {
  lazy_inode* d = _inodes.get(dir);
  if (d == nullptr || !d->listing) {
    return;
  }
  // Copy on write: an open directory handle may be reading the same listing.
  auto l = d->listing.use_count() == 1 ? std::const_pointer_cast<dir_listing>(d->listing)
                                       : std::make_shared<dir_listing>(*d->listing);
  auto& es = l->entries;
  auto it =
      std::lower_bound(es.begin(), es.end(), name,
                       [](const dir_listing::entry& e, std::string_view n) { return e.name < n; });
  bool found = it != es.end() && it->name == name;
  if (a == nullptr) {
    if (found) {
      es.erase(it);
    }
  } else if (found) {
    it->attrs = *a;
  } else {
    es.insert(it, dir_listing::entry{std::string(name), *a});
  }
  d->listing = std::move(l);
}

}  // namespace ossuring::fs
