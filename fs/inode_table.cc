// inode_table: lazy-mode inode numbers, lookup counts and the negative cache.
#include "fs/inode_table.hh"

#include <algorithm>

namespace ossuring::fs {

const dir_listing::entry* dir_listing::find(std::string_view name) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), name,
                             [](const entry& e, std::string_view n) { return e.name < n; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

inode_table::inode_table(std::string root_key) {
  lazy_inode root;
  root.parent = root_ino;
  root.key = std::move(root_key);
  root.attrs.is_dir = true;
  root.nlookup = 1;  // the kernel never forgets the root
  _by_key[root.key] = root_ino;
  _inodes.emplace(root_ino, std::move(root));
}

lazy_inode* inode_table::get(uint64_t ino) {
  auto it = _inodes.find(ino);
  return it == _inodes.end() ? nullptr : &it->second;
}

uint64_t inode_table::find(const std::string& key) const {
  auto it = _by_key.find(key);
  return it == _by_key.end() ? 0 : it->second;
}

uint64_t inode_table::intern(uint64_t parent, const std::string& key, const object_attrs& a,
                             fs_clock::time_point expiry) {
  auto [it, fresh] = _by_key.try_emplace(key, 0);
  if (fresh) {
    it->second = _next++;
    lazy_inode n;
    n.parent = parent;
    n.key = key;
    _inodes.emplace(it->second, std::move(n));
  }
  lazy_inode& n = _inodes.at(it->second);
  if (!fresh && n.attr_expiry > expiry) {
    return it->second;
  }
  if (n.attrs.etag != a.etag || n.attrs.size != a.size) {
    n.listing.reset();
  }
  n.attrs = a;
  n.attr_expiry = expiry;
  return it->second;
}

void inode_table::add_lookup(uint64_t ino, uint64_t n) {
  if (lazy_inode* i = get(ino)) {
    i->nlookup += n;
  }
}

void inode_table::forget(uint64_t ino, uint64_t n) {
  auto it = _inodes.find(ino);
  if (it == _inodes.end() || ino == root_ino) {
    return;
  }
  it->second.nlookup -= std::min(n, it->second.nlookup);
  if (it->second.nlookup == 0) {
    unbind(ino);
    _inodes.erase(it);
  }
}

void inode_table::unbind(uint64_t ino) {
  lazy_inode* i = get(ino);
  if (i == nullptr) {
    return;
  }
  // Only its own binding: after a rename or an unlink the key may name another inode now.
  if (auto k = _by_key.find(i->key); k != _by_key.end() && k->second == ino) {
    _by_key.erase(k);
  }
}

void inode_table::rebind(uint64_t ino, uint64_t parent, const std::string& key) {
  lazy_inode* i = get(ino);
  if (i == nullptr || ino == root_ino) {
    return;
  }
  unbind(ino);
  i->parent = parent;
  i->key = key;
  _by_key[key] = ino;  // replaces whatever inode the key named: that one is unbound
}

void negative_cache::insert(const std::string& key, fs_clock::time_point now) {
  if (!enabled()) {
    return;
  }
  erase(key);
  _lru.push_front(item{key, now + _timeout});
  _map[key] = _lru.begin();
  while (_map.size() > _capacity) {
    _map.erase(_lru.back().key);
    _lru.pop_back();
  }
}

bool negative_cache::contains(const std::string& key, fs_clock::time_point now) {
  auto it = _map.find(key);
  if (it == _map.end()) {
    return false;
  }
  if (now >= it->second->expiry) {
    _lru.erase(it->second);
    _map.erase(it);
    return false;
  }
  _lru.splice(_lru.begin(), _lru, it->second);
  return true;
}

void negative_cache::erase(const std::string& key) {
  auto it = _map.find(key);
  if (it != _map.end()) {
    _lru.erase(it->second);
    _map.erase(it);
  }
}

}  // namespace ossuring::fs
