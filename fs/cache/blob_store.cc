// blob_store: LRU budget over cached blobs, one live handle per blob, the recently used handles
// and limits other than the budget. The backends are in fs/cache/blob_backends.cc.
#include "fs/cache/blob_store.hh"

#include <algorithm>
#include <utility>

#include "core/log.hh"
#include "fs/cache/blob_state.hh"

namespace ossuring::fs {

std::string blob_store::blob_id(std::string_view etag, uint64_t size) {
  return std::string(etag) + "-" + std::to_string(size);
}

blob_store::blob_store(uint64_t limit) : _st(std::make_shared<blob_store_state>()), _limit(limit) {}

blob_store::~blob_store() {
  // The recently used handles hold the state (and it holds them): let them go. Handles others
  // hold keep the state, and so their bytes, until they are released.
  while (!_st->hot.empty()) {
    _st->unhot(_st->hot.back().first);
  }
}

void blob_store::set_descriptor_budget(uint64_t n) {
  if (_hot_capacity > 0) {
    _hot_capacity = std::clamp<uint64_t>(n / 8, 16, 1024);
  }
  while (_st->hot.size() > _hot_capacity) {
    _st->unhot(_st->hot.back().first);
  }
}

result<std::shared_ptr<blob>> blob_store::transient(std::vector<std::byte>& data) {
  return std::shared_ptr<blob>(std::make_shared<heap_blob>(std::move(data), _acct));
}

void blob_store::adopt(const blob_digest& key, uint64_t size) {
  if (_st->index.find(key) != blob_index::none) {
    return;
  }
  _st->index.insert(key, size, 0);  // adopted oldest first: the newest ends up most recent
  _cached_bytes += size;
}

void blob_store::limited(const std::string& what, const std::string& detail) {
  _limited_by = what;
  if (std::find(_limits_logged.begin(), _limits_logged.end(), what) == _limits_logged.end()) {
    _limits_logged.push_back(what);
    log_warn("blob_cache_limited", {{"by", what},
                                    {"detail", detail},
                                    {"blobs", std::to_string(_st->index.size())},
                                    {"bytes", std::to_string(_cached_bytes)},
                                    {"limit", std::to_string(_limit)}});
  }
}

result<std::shared_ptr<blob>> blob_store::handle_of(uint32_t n) {
  blob_store_state& st = *_st;
  if (uint32_t slot = st.index.at(n).live; slot != blob_index::none) {
    blob_store_state::live_handle& l = st.live[slot];
    if (std::shared_ptr<blob> h = l.handle.lock()) {
      if (l.in_hot) {
        st.hot.splice(st.hot.begin(), st.hot, l.hot);
      }
      return h;
    }
  }
  result<std::shared_ptr<blob>> opened = open(n);
  if (!opened || !*opened) {
    return opened;
  }
  std::shared_ptr<blob> h = std::move(*opened);
  uint32_t slot;
  if (!st.free_live.empty()) {
    slot = st.free_live.back();
    st.free_live.pop_back();
  } else {
    slot = static_cast<uint32_t>(st.live.size());
    st.live.emplace_back();
  }
  blob_index::entry& e = st.index.at(n);
  e.handles = 1;
  e.live = slot;
  st.live[slot].handle = h;
  if (_hot_capacity > 0) {
    st.hot.emplace_front(n, h);
    st.live[slot].hot = st.hot.begin();
    st.live[slot].in_hot = true;
    if (st.hot.size() > _hot_capacity) {
      st.unhot(st.hot.back().first);  // and with it its descriptor, unless someone holds it
    }
  }
  return h;
}

result<std::shared_ptr<blob>> blob_store::lookup(const blob_digest& key) {
  const uint32_t n = _st->index.find(key);
  if (n == blob_index::none) {
    return std::shared_ptr<blob>();
  }
  result<std::shared_ptr<blob>> h = handle_of(n);
  if (!h) {
    limited("descriptors", h.err().message);
    return h;
  }
  if (!*h) {
    // The bytes are gone (a cache file removed behind our back): forget the blob.
    _cached_bytes -= _st->index.at(n).size;
    _st->index.erase(n);
    return h;
  }
  _st->index.touch(n);
  return h;
}

std::shared_ptr<blob> blob_store::find(const std::string& id) {
  result<std::shared_ptr<blob>> h = lookup(blob_digest::of(id));
  return h ? std::move(*h) : nullptr;
}

bool blob_store::contains(const std::string& id) const {
  return _st->index.find(blob_digest::of(id)) != blob_index::none;
}

bool blob_store::over(uint64_t n, uint64_t extra) const {
  const bool bytes = _limit > 0 && _cached_bytes + _acct->transient_bytes + _reserved + n > _limit;
  const bool count = _max_blobs > 0 && _st->index.size() + extra > _max_blobs;
  return bytes || count;
}

void blob_store::evict(uint32_t n) {
  const blob_index::entry& e = _st->index.at(n);
  _cached_bytes -= e.size;
  ++_evictions;
  drop(e);
  _st->index.erase(n);
}

void blob_store::make_room(uint64_t n, bool one_more) {
  const uint64_t extra = one_more ? 1 : 0;
  blob_store_state& st = *_st;
  uint32_t cur = st.index.lru_oldest();
  while (cur != blob_index::none && over(n, extra)) {
    const uint32_t newer = st.index.lru_newer(cur);
    if (st.index.at(cur).handles > 0) {
      // Held only by the recently used list: let it go. Held by anyone else: pinned.
      const blob_store_state::live_handle& l = st.live[st.index.at(cur).live];
      if (l.in_hot && l.handle.use_count() == 1) {
        st.unhot(cur);
      }
    }
    if (st.index.at(cur).handles == 0) {
      evict(cur);
    }
    cur = newer;
  }
}

bool blob_store::room_for(uint64_t size) const {
  // A handle held only by the recently used list (at most 1024 of them) can be let go.
  uint64_t pinned_bytes = _st->held_bytes;
  uint64_t pinned_blobs = _st->handles;
  for (const auto& [n, h] : _st->hot) {
    if (h.use_count() == 1) {
      pinned_bytes -= h->size();
      --pinned_blobs;
    }
  }
  const bool bytes =
      _limit == 0 || pinned_bytes + _acct->transient_bytes + _reserved + size <= _limit;
  return bytes && (_max_blobs == 0 || pinned_blobs < _max_blobs);
}

void blob_store::reserve(uint64_t n) {
  make_room(n);
  _reserved += n;
}

void blob_store::unreserve(uint64_t n) {
  _reserved -= std::min(n, _reserved);
}

result<std::shared_ptr<blob>> blob_store::store(const std::string& id,
                                                std::vector<std::byte>&& data, bool reserved,
                                                bool cacheable) {
  const uint64_t size = data.size();
  if (reserved) {
    unreserve(size);
  }
  const blob_digest key = blob_digest::of(id);
  if (cacheable) {
    result<std::shared_ptr<blob>> b = lookup(key);
    if (b && *b) {
      return b;
    }
    if (!b) {
      // Cached, but it cannot be opened now: this reader gets its bytes from memory.
      return std::shared_ptr<blob>(std::make_shared<heap_blob>(std::move(data), _acct));
    }
    make_room(size, true);
  }
  const bool fits =
      _limit == 0 || _cached_bytes + _acct->transient_bytes + _reserved + size <= _limit;
  const bool counted = _max_blobs == 0 || _st->index.size() < _max_blobs;
  if (cacheable && fits && !counted) {
    limited("max_blobs", "the cache holds its cap of " + std::to_string(_max_blobs) + " blobs");
  }
  if (!cacheable || !fits || !counted) {
    ++_uncached;
    return transient(data);
  }
  result<uint64_t> where = put(key, data);
  if (!where) {
    // The slabs or the cache folder refused (no address space, disk full, an I/O error): the
    // object was fetched all the same, so the reader gets it from memory, uncached.
    limited(where.err().code == ENOSPC ? "disk_space" : "storage", where.err().message);
    ++_uncached;
    return std::shared_ptr<blob>(std::make_shared<heap_blob>(std::move(data), _acct));
  }
  const uint32_t n = _st->index.insert(key, size, *where);
  _cached_bytes += size;
  result<std::shared_ptr<blob>> h = handle_of(n);
  if (h && *h) {
    return h;
  }
  // Stored, but it cannot be opened now (out of descriptors): this reader gets the bytes from
  // memory.
  limited("descriptors", h ? "a stored blob vanished" : h.err().message);
  return std::shared_ptr<blob>(std::make_shared<heap_blob>(std::move(data), _acct));
}

blob_store_stats blob_store::stats() const {
  blob_store_stats s;
  s.limit = _limit;
  s.bytes = _cached_bytes + _acct->transient_bytes + _reserved;
  s.blobs = _st->index.size();
  for (const blob_store_state::live_handle& l : _st->live) {
    if (l.handle.use_count() > (l.in_hot ? 1 : 0)) {
      ++s.pinned;
    }
  }
  s.evictions = _evictions;
  s.uncached = _uncached;
  s.reserved = _reserved;
  s.slot_bytes = _st->slabs.slot_bytes();
  s.index_bytes = _st->index.memory_bytes() +
                  _st->live.capacity() * sizeof(blob_store_state::live_handle) +
                  _st->hot.size() * (sizeof(std::shared_ptr<blob>) + 3 * sizeof(void*) + 8);
  s.descriptors = _st->descriptors;
  s.handles = _st->handles;
  s.limited_by = _limited_by;
  return s;
}

}  // namespace ossuring::fs
