// writer: writes (lazy mode with `writable` only; EROFS otherwise; docs/semantics.md "Writes").
// Files are staged locally (memfd or O_TMPFILE) and uploaded when closed or fsynced: PutObject
// up to multipart_threshold, a multipart upload above it, begun while the file is still written
// in order (part streams). Names change by PutObject, DeleteObject and server-side copies.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fs/cache/blob_store.hh"
#include "fs/data/staged_file.hh"
#include "fs/detail/context.hh"
#include "fs/meta/lazy_meta.hh"

namespace ossuring::fs {

class writer {
 public:
  // `lazy` is null on mounts that cannot write (index mode): every write is then EROFS.
  writer(fs_context& ctx, lazy_metadata* lazy, blob_store& blobs)
      : _ctx(ctx), _lazy(lazy), _blobs(blobs) {}

  // writer.cc: handles.
  // A new empty file, staged and open for writing; it exists in OSS from its first flush.
  task<result<create_reply>> create(uint64_t parent, std::string_view name);
  // An open for writing (or with O_TRUNC): stages the object first, unless it is truncated.
  task<result<open_reply>> open_for_write(uint64_t ino, int flags);
  // A read-only open of a file being written here: it reads the staged bytes, as it would on a
  // local disk. Null when `ino` is not being written.
  std::optional<open_reply> open_staged(uint64_t ino);
  // Whether handle `fh` is one of the writer's (opened by the three above).
  bool owns(uint64_t fh) const { return _writers.contains(fh); }
  result<size_t> read(uint64_t fh, uint64_t offset, std::span<std::byte> dest);
  task<result<size_t>> write(uint64_t ino, uint64_t fh, uint64_t offset,
                             std::span<const std::byte> data);
  // close(2): uploads the staged file if it changed since its last upload.
  task<status> flush(uint64_t ino, uint64_t fh);
  // fsync(2): the same, always waiting for OSS's answer.
  task<status> fsync(uint64_t ino, uint64_t fh);
  // False when `fh` is not a write handle.
  bool release(uint64_t ino, uint64_t fh);
  // Truncates or extends the file to `size` (with no handle open: staged, resized, uploaded).
  task<status> truncate(uint64_t ino, uint64_t size);
  // close() of the file system: what files still open wrote is uploaded, not lost.
  void upload_dirty();

  // names.cc: directories and names.
  task<result<entry_reply>> mkdir(uint64_t parent, std::string_view name);
  task<status> unlink(uint64_t parent, std::string_view name);
  task<status> rmdir(uint64_t parent, std::string_view name);
  task<status> rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                      std::string_view new_name, unsigned flags);

 private:
  result<lazy_inode*> writable_dir(uint64_t parent, std::string_view name);
  // The inode's staged file; without one yet, a new one holding the first `keep` bytes of the
  // object (EROFS, EISDIR as open would answer).
  task<result<std::shared_ptr<staged_file>>> staged_for(uint64_t ino, uint64_t keep);
  static int64_t wall_now();

  // upload.cc: staged files and their uploads.
  result<std::shared_ptr<staged_file>> new_stage(const std::string& key);
  task<status> fill_stage(staged_file& s, const std::string& key, uint64_t size,
                          const std::string& etag);
  task<status> upload(uint64_t ino, std::shared_ptr<staged_file> s);
  // Returns once no upload of `s` runs (one may start as soon as the caller suspends again).
  static task<void> upload_settled(staged_file& s);
  // Keeps the `size` bytes just uploaded from `s` (still exactly what OSS has) as the blob a
  // read of the object under `etag` would fetch: reading a small file right after writing it
  // costs no GET. Small files only (large ones are read by ranges), within the blob budget.
  void seed_blob(const staged_file& s, uint64_t size, const std::string& etag);
  // Sends parts [first, end) of `s` (etags of the earlier ones in `etags`) and completes the
  // upload `id`; aborts it on failure.
  task<result<oss::put_result>> finish_multipart(const std::string& key, const staged_file& s,
                                                 std::string id, uint64_t part, unsigned first,
                                                 std::vector<oss::part_etag> etags);
  task<result<oss::put_result>> upload_multipart(const std::string& key, const staged_file& s);
  // Part i (0-based) of a multipart upload, sent with the calling worker's buffer.
  using part_sender =
      std::function<task<result<oss::part_etag>>(unsigned i, std::vector<std::byte>& buf)>;
  // Sends parts [first, parts) with `send`, `upload_parallelism` at once (the etags of the
  // earlier ones in `etags`), and completes the upload `id`; aborts it on failure.
  task<result<oss::put_result>> complete_parts(const std::string& key, const std::string& id,
                                               unsigned parts, unsigned first,
                                               std::vector<oss::part_etag> etags,
                                               const part_sender& send);
  task<void> upload_on_release(uint64_t ino, std::shared_ptr<staged_file> s);
  task<void> upload_in_background(uint64_t ino, std::shared_ptr<staged_file> s);

  // copy.cc: server-side copy for rename: CopyObject up to copy_threshold (by `size`, checked
  // again when OSS refuses), UploadPartCopy ranges above it. When OSS was asked for the
  // source's size, `size` becomes it.
  task<result<oss::put_result>> copy_for_rename(const std::string& from, const std::string& to,
                                                uint64_t& size);
  task<result<oss::put_result>> copy_in_parts(const std::string& from, const std::string& to,
                                              const oss::object_info& source);

  // part_stream.cc.
  void stream_parts(const std::shared_ptr<staged_file>& s);
  task<void> stream_start(std::shared_ptr<staged_file> s, std::shared_ptr<part_stream> ps);
  task<void> stream_part(std::shared_ptr<staged_file> s, std::shared_ptr<part_stream> ps,
                         unsigned index);
  static task<void> stream_settled(part_stream& ps);
  task<void> stream_abort(std::shared_ptr<part_stream> ps);
  // The upload of `s` through its part stream, or nullopt when the stream cannot be used (it
  // is then aborted, and the caller uploads the whole file).
  task<std::optional<result<oss::put_result>>> upload_streamed(staged_file& s, uint64_t size);

  fs_context& _ctx;
  lazy_metadata* _lazy;
  blob_store& _blobs;
  std::unordered_map<uint64_t, std::shared_ptr<staged_file>> _writers;  // by write handle
  unsigned _background_uploads = 0;  // upload_in_background tasks running
  bool _staging_in_memory = false;   // staging_dir refused unnamed files: memfd instead
};

}  // namespace ossuring::fs
