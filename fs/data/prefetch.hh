// prefetcher: fetches small files into the blob store before they are opened
// (docs/semantics.md#prefetch). By default (`auto`) only for readers seen walking a sequence: a
// directory in listing order, or the order in which files were opened before (an epoch
// repeating the last one's order); `siblings` and `dir` queue files after every open. A
// bounded set of workers sends the GETs.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/cache/blob_store.hh"
#include "fs/data/fetcher.hh"
#include "fs/detail/context.hh"
#include "fs/meta/metadata.hh"

namespace ossuring::fs {

// Finds readers walking a sequence forward: an access at position p continues a stream whose
// last access was a little before p (concurrent readers of one walk arrive slightly out of
// order). A stream fetches nothing until it has moved forward `confirm_steps` times (one more
// in sequences under `small_sequence`); then its window starts at 4 positions and doubles with
// each step, up to `ahead`. A random access continues one of the `max_streams` streams with a
// chance of about max_streams * step / n, so the step allowed is at most n / 128 (at least 1)
// and random accesses rarely continue a stream twice: shuffled access over 100 or more
// positions hands out at most 4% of them (tests/fs/test_prefetch.cc), a walk nearly all.
class stream_detector {
 public:
  static constexpr unsigned max_streams = 8;
  static constexpr uint64_t max_step = 8;  // a forward jump still counted as in order
  static constexpr uint64_t step_divisor = 128;
  static constexpr unsigned confirm_steps = 2;
  static constexpr uint64_t small_sequence = 1000;

  struct window {
    uint64_t from = 0;  // positions to fetch: [from, to)
    uint64_t to = 0;
    unsigned stream = 0;  // pass to issued()
  };
  // An access at position `p` of a sequence of `n`: what to fetch next (empty when nothing).
  window access(uint64_t p, uint64_t ahead, uint64_t n);
  // Positions before `end` of stream `s` were queued (or skipped): not handed out again.
  void issued(unsigned s, uint64_t end);

 private:
  struct stream {
    uint64_t last = 0;    // the position last accessed
    uint64_t issued = 0;  // positions below this were handed out
    unsigned steps = 0;   // forward steps in a row
    uint64_t used = 0;    // when last accessed (for replacement)
  };
  std::vector<stream> _streams;
  uint64_t _tick = 0;
};

class prefetcher {
 public:
  prefetcher(fs_context& ctx, metadata& meta, blob_store& blobs, blob_fetcher& fetcher)
      : _ctx(ctx), _meta(meta), _blobs(blobs), _fetcher(fetcher) {}

  // File `ino` was opened: queue what the policy asks for.
  void after_open(uint64_t ino);
  // Another index was installed: positions and inode numbers of the replaced one mean nothing.
  void forget_cursors();
  // close(): nothing queued is fetched any more (workers end after their GET in flight).
  void stop();

 private:
  struct item {
    std::string key;
    std::string etag;
    uint64_t size = 0;
  };
  // siblings|dir: the window after every open.
  void window_open(uint64_t ino);
  // auto: directory streams and the replay of the order files were opened in before.
  void adaptive_open(uint64_t ino);
  // Queues child `pos` of `v` (or the object `n`); false once the byte budget is full.
  bool queue_child(const sibling_view& v, uint64_t pos);
  bool queue(const std::string& key, const std::string& etag, uint64_t size, bool is_dir);
  void start_workers();
  task<void> worker();

  fs_context& _ctx;
  metadata& _meta;
  blob_store& _blobs;
  blob_fetcher& _fetcher;
  std::deque<item> _queue;
  std::unordered_map<uint64_t, uint64_t> _cursor;  // siblings: dir node -> next child to queue
  std::unordered_map<uint64_t, stream_detector> _dir_streams;  // auto: by dir node
  // auto: the inodes opened, in order (the last `history_cap`, from absolute position
  // `_history_start`), and where each was last opened: an open of a file opened before is an
  // access at that position of the old order, so an epoch repeating it is a stream there.
  static constexpr size_t history_cap = 1 << 18;
  std::deque<uint64_t> _history;
  uint64_t _history_start = 0;
  std::unordered_map<uint64_t, uint64_t> _last_open;
  stream_detector _replay;
  uint64_t _queued_bytes = 0;
  unsigned _running = 0;
};

}  // namespace ossuring::fs
