// blob_fetcher: whole-object GETs into the blob store, one per object however many opens (and
// prefetches) want it at once. GETs in flight hold blob budget; past it they wait for room.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/abort.hh"
#include "core/sync.hh"
#include "fs/cache/blob_store.hh"
#include "fs/detail/context.hh"

namespace ossuring::fs {

// The state of one whole-object GET that opens and prefetch share.
struct whole_fetch {
  oneshot_event done;
  std::optional<result<std::shared_ptr<blob>>> res;
  abort_source cancel;  // fired at close(): the GET is abandoned
};

class blob_fetcher {
 public:
  blob_fetcher(fs_context& ctx, blob_store& blobs);

  // The fetch of object `key` (`etag`, `size`): the blob already stored, the GET already in
  // flight, or a new GET run in the background, so that an interrupted opener can stop waiting
  // while other openers (and the cache) still get the object. `prefetch`: may use only half
  // the blob budget for GETs in flight (opens get all of it).
  std::shared_ptr<whole_fetch> start(const std::string& key, const std::string& etag, uint64_t size,
                                     bool prefetch = false);
  // Whether the blob `id` is being fetched now.
  bool in_flight(const std::string& id) const { return _fetching.contains(id); }
  // close(): every GET in flight is abandoned.
  void cancel_all();

 private:
  task<void> run(std::shared_ptr<whole_fetch> fe, std::string key, std::string etag, uint64_t size,
                 std::string id, bool prefetch);
  task<result<std::shared_ptr<blob>>> get_whole(const std::string& key, const std::string& etag,
                                                uint64_t size, const std::string& id, bool prefetch,
                                                abort_source* cancel);
  void signal_room();

  fs_context& _ctx;
  blob_store& _blobs;
  std::unordered_map<std::string, std::shared_ptr<whole_fetch>> _fetching;  // by blob id
  std::shared_ptr<oneshot_event> _room;  // set (and replaced) when GET budget frees up
};

}  // namespace ossuring::fs
