// shared_index: an index image shared through the bucket (--shared-index, docs/semantics.md
// "Shared index"). Every mount of a bucket/prefix starts from one object instead of listing; one
// mount at a time (the winner of a create-only lease object) lists again and publishes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/abort.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "fs/index.hh"
#include "fs/types.hh"
#include "http/oss/object_client.hh"
#include "http/oss/retry.hh"

namespace ossuring::fs {

class shared_index {
 public:
  // The image is read with ranged GETs of this size, this many in flight.
  static constexpr uint64_t part_size = 8 << 20;
  static constexpr unsigned parts_in_flight = 8;
  // Larger objects are refused before any allocation (about 40M keys of average names).
  static constexpr uint64_t max_image_size = 4ull << 30;

  // What the mount does next.
  enum class action {
    use_image,         // install `image`: another mount's listing
    keep,              // the index served is the group's and young enough
    list,              // list, do not publish (no lease could be taken: no write permission)
    list_and_publish,  // this mount won the lease: list, then publish()
  };
  struct decision {
    action what = action::list;
    std::optional<index> image;
  };

  // `key` is a key of the mounted bucket, or oss://BUCKET/KEY naming that same bucket. `abort`
  // ends the waits and requests (the mount is closing).
  shared_index(oss::object_client& client, const fs_options& opts, abort_source& abort);

  // Empty when the key named another bucket (refused, logged): the mount then lists as usual.
  const std::string& key() const { return _key; }
  // ETag of the image the mount serves ("" when it serves its own unpublished listing).
  const std::string& etag() const { return _etag; }

  // At mount start: the image when a valid one is there; else the lease decides who lists. A
  // mount that lost it waits (opts.shared_index_wait at most) for the winner's image.
  task<result<decision>> start();
  // At each refresh: a HEAD; a changed ETag brings the new image, an image older than half the
  // interval sends the lease winner to list. `held_build_time`: build time of the index served.
  task<result<decision>> refresh(int64_t held_build_time);
  // Writes `idx` as the image (after a listing the lease allowed); failures are logged.
  task<void> publish(const index& idx);

  // The image at the key, validated for this mount (format version, bucket, prefix, checksum,
  // structure); a refused one is logged with its key and reason. ENOENT when absent.
  task<result<index>> fetch();

  // The pause between HEADs while waiting for another mount's image (tests drive it).
  void set_sleep(oss::sleep_fn sleep) { _sleep = std::move(sleep); }

 private:
  struct part_state {
    std::optional<error> failure;
    std::string etag;
  };
  task<void> fetch_part(std::span<std::byte> dest, uint64_t offset, part_state& st);
  // Create-only PUT of this interval's lease: true when this mount won it; an error when it
  // cannot write there at all.
  task<result<bool>> claim();
  std::string lease_key(int64_t epoch) const;
  int64_t epoch_now() const;
  // Waits for another mount's image after losing the lease at start; nullopt when none came.
  task<std::optional<index>> wait_for_image();

  oss::object_client& _client;
  const fs_options& _opts;
  abort_source& _abort;
  std::string _key;
  std::string _etag;          // of the image served
  std::string _refused_etag;  // of the last image refused: not fetched again until it changes
  int64_t _lease_epoch = -1;  // the lease this mount holds, to remove the one before it
  // An interval whose lease another mount holds: not asked for again (no PUT per refresh).
  int64_t _lost_epoch = -1;
  oss::sleep_fn _sleep;
};

}  // namespace ossuring::fs
