// filesystem, lazy mode: per-directory listings on demand and name lookups with one LIST.
#include <algorithm>

#include "core/log.hh"
#include "fs/detail/fs_util.hh"
#include "fs/errors.hh"
#include "fs/filesystem.hh"
#include "http/oss/list_guard.hh"

namespace ossuring::fs {

using detail::attrs_of;
using detail::enoent;
using detail::valid_name;
using detail::valid_size;

// ---- lazy mode ----

task<result<std::shared_ptr<const dir_listing>>> filesystem::lazy_list_dir(uint64_t ino) {
  lazy_inode* d = _inodes.get(ino);
  if (!d) {
    co_return make_error(ESTALE, "unknown inode " + std::to_string(ino));
  }
  if (!d->attrs.is_dir) {
    co_return make_error(ENOTDIR, "not a directory");
  }
  if (d->listing && now() < d->listing_expiry) {
    co_return d->listing;
  }
  const std::string dir_key = d->key;
  auto listing = std::make_shared<dir_listing>();
  // What the pages say is as old as the first of them.
  listing->expiry = now() + _opts.attr_timeout;
  oss::list_request req{dir_key, "/", "", "", _opts.list_page_size};
  // A page that does not advance ends the listing with EIO: `ls` fails instead of never
  // returning. Keys outside the directory's prefix are dropped.
  oss::list_guard guard(_opts.bucket, req);
  uint64_t absurd = 0;  // objects skipped for a size stat cannot show
  std::string first_absurd;
  while (true) {
    ++_counters.list_requests;
    auto page = co_await _client.list_objects_v2(req);
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
  for (const auto& [sino, s] : _staged) {
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

task<result<entry_reply>> filesystem::lazy_lookup(uint64_t parent, std::string_view name) {
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
  auto t = now();
  auto expiry = t + _opts.attr_timeout;
  auto answer = [&](const std::string& key, const object_attrs& a,
                    fs_clock::time_point trusted_until) -> entry_reply {
    uint64_t ino = _inodes.intern(parent, key, a, trusted_until);
    _inodes.add_lookup(ino);
    return make_entry(ino, _inodes.get(ino)->attrs);
  };
  // 0. A file being written here may not be in OSS yet.
  // (A key lookup per name only while something is staged: reads pay nothing for writes.)
  if (uint64_t ino = _staged.empty() ? 0 : _inodes.find(file_key);
      ino != 0 && _staged.contains(ino)) {
    _inodes.add_lookup(ino);
    co_return make_entry(ino, _inodes.get(ino)->attrs);
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
    ++_counters.negative_hits;
    co_return enoent(file_key);
  }
  // 3. One LIST with the name as prefix finds the object and the directory together; only a
  // truncated page that answered neither needs the two exact probes.
  oss::list_request req{file_key, "/", "", "", 1000};
  ++_counters.list_requests;
  auto page = co_await _client.list_objects_v2(req);
  if (page) {
    oss::list_guard guard(_opts.bucket, req);
    if (status ok = guard.check(*page); !ok) {
      page = std::move(ok).err();
    }
  }
  if (!page) {
    co_return to_fs_error(std::move(page).err());
  }
  bool is_dir = std::find(page->common_prefixes.begin(), page->common_prefixes.end(), dir_key) !=
                page->common_prefixes.end();
  std::optional<object_attrs> file;
  for (const auto& o : page->objects) {
    if (o.key == file_key) {
      file = attrs_of(o);
    }
  }
  if (!is_dir && page->truncated) {
    oss::list_request dreq{dir_key, "", "", "", 1};
    ++_counters.list_requests;
    auto dpage = co_await _client.list_objects_v2(dreq);
    if (!dpage) {
      co_return to_fs_error(std::move(dpage).err());
    }
    is_dir = !dpage->objects.empty() || !dpage->common_prefixes.empty();
    if (!is_dir && !file) {
      ++_counters.meta_requests;
      auto meta = co_await _client.get_object_meta(file_key);
      if (meta) {
        file = attrs_of(*meta);
      } else if (meta.err().http_status != 404 && errno_for(meta.err()) != ENOENT) {
        co_return to_fs_error(std::move(meta).err());
      }
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
  _negative.insert(file_key, now());
  co_return enoent(file_key);
}

}  // namespace ossuring::fs
