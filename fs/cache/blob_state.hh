// blob_state: what a blob store shares with the handles it hands out (fs/cache/blob_store.hh), so a
// handle can outlive its store: the index, the memory backend's slabs, the live-handle table and
// the list of recently used handles. Private to fs/cache/blob_store.cc and
// fs/cache/blob_backends.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <vector>

#include "fs/cache/blob_index.hh"
#include "fs/cache/blob_slabs.hh"
#include "fs/cache/blob_store.hh"

namespace ossuring::fs {

struct blob_store_state {
  // A live handle of an entry: one at a time per entry, so everyone who holds a blob holds the
  // same handle (passthrough compares backing fds), found again while anyone holds it.
  struct live_handle {
    std::weak_ptr<blob> handle;
    std::list<std::pair<uint32_t, std::shared_ptr<blob>>>::iterator hot;
    bool in_hot = false;
  };

  blob_index index;
  blob_slabs slabs;                 // memory backend only
  std::vector<live_handle> live;    // by entry.live
  std::vector<uint32_t> free_live;  // unused slots of `live`
  // Recently used handles (entry, handle), front = newest: they keep a directory blob's file
  // open between uses by unpinned readers, within the descriptor budget.
  std::list<std::pair<uint32_t, std::shared_ptr<blob>>> hot;
  uint64_t descriptors = 0;  // fds handles hold now
  uint64_t handles = 0;      // handles alive
  uint64_t held_bytes = 0;   // bytes of the blobs with a live handle

  // Takes a handle off the recently used list; it dies unless someone holds it.
  void unhot(uint32_t n) {
    live_handle& l = live[index.at(n).live];
    if (!l.in_hot) {
      return;
    }
    l.in_hot = false;
    std::shared_ptr<blob> h = std::move(l.hot->second);
    hot.erase(l.hot);
    // `h` goes last: its destructor may free the live slot `l` refers to.
  }

  // The last handle of entry `n` is going: its live slot is freed.
  void handle_gone(uint32_t n) {
    --handles;
    blob_index::entry& e = index.at(n);
    if (--e.handles == 0 && e.live != blob_index::none) {
      live[e.live] = live_handle{};
      free_live.push_back(e.live);
      e.live = blob_index::none;
    }
  }
};

// Gives an uncached blob's bytes back to its store's accounting when the last holder lets go.
struct transient_charge {
  std::shared_ptr<blob_accounting> acct;
  uint64_t bytes = 0;
  transient_charge(std::shared_ptr<blob_accounting> a, uint64_t n) : acct(std::move(a)), bytes(n) {
    acct->transient_bytes += bytes;
  }
  transient_charge(const transient_charge&) = delete;
  transient_charge& operator=(const transient_charge&) = delete;
  ~transient_charge() { acct->transient_bytes -= bytes; }
};

// An uncached blob on the heap.
class heap_blob final : public blob {
 public:
  heap_blob(std::vector<std::byte>&& d, std::shared_ptr<blob_accounting> a)
      : _data(std::move(d)), _charge(std::move(a), _data.size()) {}
  uint64_t size() const override { return _data.size(); }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    if (offset >= _data.size()) {
      return size_t{0};
    }
    size_t n = std::min<uint64_t>(dest.size(), _data.size() - offset);
    std::memcpy(dest.data(), _data.data() + offset, n);
    return n;
  }

 private:
  std::vector<std::byte> _data;
  transient_charge _charge;
};

// The base of cached blobs' handles: counts itself in its entry while alive.
class blob_handle : public blob {
 public:
  blob_handle(std::shared_ptr<blob_store_state> st, uint32_t n, uint64_t size)
      : _st(std::move(st)), _n(n), _size(size) {
    ++_st->handles;
    _st->held_bytes += _size;
  }
  ~blob_handle() override {
    _st->held_bytes -= _size;
    _st->handle_gone(_n);
  }
  uint64_t size() const override { return _size; }

 protected:
  std::shared_ptr<blob_store_state> _st;
  uint32_t _n;
  uint64_t _size;
};

}  // namespace ossuring::fs
