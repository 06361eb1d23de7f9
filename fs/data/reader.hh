// reader: open files for reading and their data. Small objects are fetched whole into the blob
// store (blob_fetcher, shared by concurrent opens) and read from there; large ones by ranged GETs
// with sequential read-ahead (read_ahead.cc); directMode reads one ranged GET per READ. Files
// being written are read by the writer (fs/data/writer.hh), not here.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/abort.hh"
#include "core/sync.hh"
#include "fs/cache/blob_store.hh"
#include "fs/data/fetcher.hh"
#include "fs/data/prefetch.hh"
#include "fs/detail/context.hh"
#include "fs/meta/metadata.hh"

namespace ossuring::fs {

// One ranged GET of a large file's read-ahead. Its bytes count in `buffer_bytes` from issue to
// destruction (the GET coroutine holds it until the response ends, even after a cancel).
struct read_chunk {
  read_chunk(uint64_t o, uint64_t n, uint64_t& counter) : off(o), data(n), _counter(counter) {
    _counter += data.size();
  }
  read_chunk(const read_chunk&) = delete;
  read_chunk& operator=(const read_chunk&) = delete;
  ~read_chunk() { _counter -= data.size(); }
  uint64_t end() const { return off + data.size(); }

  uint64_t off;
  std::vector<std::byte> data;
  oneshot_event done;
  std::optional<error> err;
  std::optional<uint64_t> object_crc;  // the whole object's CRC-64, as the ranged answer gave it
  abort_source cancel;                 // fired when no reader wants the bytes any more
  unsigned readers = 0;                // reads waiting for the bytes

 private:
  uint64_t& _counter;
};

class reader {
 public:
  reader(fs_context& ctx, metadata& meta, blob_fetcher& fetcher, prefetcher& prefetch)
      : _ctx(ctx), _meta(meta), _fetcher(fetcher), _prefetch(prefetch) {}
  ~reader();

  // `abort` (FUSE INTERRUPT) ends the wait with EINTR; a GET shared with other opens goes on.
  // `pin`: the handle holds its small object's blob until release.
  task<result<open_reply>> open(uint64_t ino, abort_source* abort, bool pin);
  // Fills `dest` from `offset`; returns fewer bytes only at end of file.
  task<result<size_t>> read(uint64_t ino, uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                            abort_source* abort);
  void release(uint64_t fh);
  // Whether handle `fh` still reads the object its inode now describes.
  bool is_current(uint64_t fh);
  // close(): read-ahead nobody will read ends now.
  void cancel_all();

 private:
  struct open_file {
    uint64_t ino = 0;
    std::string key;
    std::string etag;
    uint64_t size = 0;
    std::shared_ptr<blob> whole;   // small files, pinned handles
    std::weak_ptr<blob> unpinned;  // small files, unpinned handles
    bool small = false;            // read from a whole-object blob
    // Large files: ranged GETs done or in flight, by offset, contiguous from the reader on.
    std::deque<std::shared_ptr<read_chunk>> chunks;
    const read_chunk* last_chunk = nullptr;  // the chunk the reader was last served from
    uint64_t next_off = 0;                   // where a sequential reader continues
    uint64_t window = 0;                     // bytes kept in flight/ready ahead of the reader
    // The last failed read (failed_read_memory): its error, range and when it is forgotten.
    std::optional<error> failed;
    uint64_t failed_off = 0;
    uint64_t failed_end = 0;
    fs_clock::time_point failed_until{};
    // CRC-64 of the bytes [0, crc_next) read through in order, and the object's own
    // (x-oss-hash-crc64ecma of its ranged answers): compared once crc_next reaches the size.
    uint64_t crc = 0;
    uint64_t crc_next = 0;
    std::optional<uint64_t> object_crc;
  };

  // failed_read_memory: remembers a failed read of [off, end) on handle `fh`; the error a read
  // of [off, off + len) on it answers at once, if any.
  void remember_failure(uint64_t fh, const error& e, uint64_t off, uint64_t end);
  std::optional<error> recent_failure(open_file& f, uint64_t off, uint64_t len);
  task<result<size_t>> read_unpinned(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                                     abort_source* abort);
  // read_ahead.cc: large objects and directMode.
  task<result<size_t>> read_large(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                                  abort_source* abort);
  task<result<size_t>> read_direct(const open_file& f, uint64_t offset, std::span<std::byte> dest,
                                   abort_source* abort);
  std::shared_ptr<read_chunk> issue_chunk(open_file& f, uint64_t off, uint64_t len);
  task<void> get_chunk(std::shared_ptr<read_chunk> ch, std::string key, std::string etag);
  void fill_ahead(open_file& f, uint64_t pos);
  void cancel_chunks(open_file& f, bool even_awaited);
  // Ranged reads: extends the handle's in-order CRC-64 with chunk `c`; an error on a mismatch.
  status check_read_through(open_file& f, const read_chunk& c);

  static error interrupted(const std::string& what);
  // The client reports an aborted request as ECANCELED; to the process it was an interrupted
  // call.
  static error read_error(error e, abort_source* abort);

  fs_context& _ctx;
  metadata& _meta;
  blob_fetcher& _fetcher;
  prefetcher& _prefetch;
  std::unordered_map<uint64_t, open_file> _files;
};

}  // namespace ossuring::fs
