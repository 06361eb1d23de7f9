// blob_index: digest table (linear probing, backward-shift deletion) and the intrusive LRU list.
#include "fs/cache/blob_index.hh"

#include <cstring>

#include "http/oss/digest.hh"

namespace ossuring::fs {

blob_digest blob_digest::of(std::string_view id) {
  oss::sha256_digest d = oss::sha256(id);
  blob_digest k;
  std::memcpy(&k.lo, d.data(), 8);
  std::memcpy(&k.hi, d.data() + 8, 8);
  return k;
}

uint32_t blob_index::find(const blob_digest& key) const {
  if (_table.empty()) {
    return none;
  }
  const size_t mask = _table.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    uint32_t n = _table[i];
    if (n == none) {
      return none;
    }
    if (at(n).key == key) {
      return n;
    }
  }
}

void blob_index::grow_table() {
  std::vector<uint32_t> old = std::move(_table);
  _table.assign(old.empty() ? 1024 : old.size() * 2, none);
  const size_t mask = _table.size() - 1;
  for (uint32_t n : old) {
    if (n != none) {
      size_t i = home(at(n).key);
      while (_table[i] != none) {
        i = (i + 1) & mask;
      }
      _table[i] = n;
    }
  }
}

uint32_t blob_index::insert(const blob_digest& key, uint64_t size, uint64_t where) {
  // At most 3/4 full: probes stay short.
  if ((_count + 1) * 4 > _table.size() * 3) {
    grow_table();
  }
  uint32_t n;
  if (!_free.empty()) {
    n = _free.back();
    _free.pop_back();
  } else {
    if ((_allocated >> chunk_bits) >= _chunks.size()) {
      _chunks.push_back(std::make_unique<entry[]>(size_t{1} << chunk_bits));
    }
    n = _allocated++;
  }
  entry& e = at(n);
  e = entry{};
  e.key = key;
  e.size = size;
  e.where = where;
  const size_t mask = _table.size() - 1;
  size_t i = home(key);
  while (_table[i] != none) {
    i = (i + 1) & mask;
  }
  _table[i] = n;
  ++_count;
  link_front(n);
  return n;
}

void blob_index::erase(uint32_t n) {
  const size_t mask = _table.size() - 1;
  size_t i = home(at(n).key);
  while (_table[i] != n) {
    i = (i + 1) & mask;
  }
  // Backward shift: move later members of the probe run into the hole so that no lookup
  // stops early at it (no tombstones to clean up later).
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    uint32_t m = _table[j];
    if (m == none) {
      break;
    }
    size_t h = home(at(m).key);
    // `m` may fill the hole at i if its home is not in (i, j] (cyclically).
    bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!stays) {
      _table[i] = m;
      i = j;
    }
  }
  _table[i] = none;
  unlink(n);
  at(n) = entry{};
  _free.push_back(n);
  --_count;
}

void blob_index::unlink(uint32_t n) {
  entry& e = at(n);
  if (e.prev != none) {
    at(e.prev).next = e.next;
  } else {
    _head = e.next;
  }
  if (e.next != none) {
    at(e.next).prev = e.prev;
  } else {
    _tail = e.prev;
  }
  e.prev = e.next = none;
}

void blob_index::link_front(uint32_t n) {
  entry& e = at(n);
  e.prev = none;
  e.next = _head;
  if (_head != none) {
    at(_head).prev = n;
  }
  _head = n;
  if (_tail == none) {
    _tail = n;
  }
}

void blob_index::touch(uint32_t n) {
  if (_head != n) {
    unlink(n);
    link_front(n);
  }
}

uint64_t blob_index::memory_bytes() const {
  return _chunks.size() * (sizeof(entry) << chunk_bits) + _table.capacity() * sizeof(uint32_t) +
         _free.capacity() * sizeof(uint32_t) + _chunks.capacity() * sizeof(void*);
}

}  // namespace ossuring::fs
