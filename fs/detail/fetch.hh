// The state of one whole-object GET that opens and prefetch share (filesystem internals).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "fs/detail/async.hh"
#include "fs/filesystem.hh"

namespace ossuring::fs {

struct filesystem::fetch {
  detail::async_event done;
  std::optional<result<std::shared_ptr<blob>>> res;
  abort_source cancel;  // fired at close(): the GET is abandoned
};

// One ranged GET of a large file's read-ahead. Its bytes count in `buffer_bytes` from issue to
// destruction (the GET coroutine holds it until the response ends, even after a cancel).
struct filesystem::chunk {
  chunk(uint64_t o, uint64_t n, uint64_t& counter) : off(o), data(n), _counter(counter) {
    _counter += data.size();
  }
  chunk(const chunk&) = delete;
  chunk& operator=(const chunk&) = delete;
  ~chunk() { _counter -= data.size(); }
  uint64_t end() const { return off + data.size(); }

  uint64_t off;
  std::vector<std::byte> data;
  detail::async_event done;
  std::optional<error> err;
  std::optional<uint64_t> object_crc;  // the whole object's CRC-64, as the ranged answer gave it
  abort_source cancel;                 // fired when no reader wants the bytes any more
  unsigned readers = 0;                // reads waiting for the bytes

 private:
  uint64_t& _counter;
};

}  // namespace ossuring::fs
