// filesystem: the file-system logic the FUSE adapter calls, one coroutine per FUSE operation.
//
// A facade: each operation is delegated to the part that implements it. Metadata (names,
// attributes, directories) to one of two implementations of fs/meta/metadata.hh chosen at
// construction: index mode (fs/meta/index_meta.hh, an in-memory index of the whole prefix, zero
// requests after build_index) or lazy mode (fs/meta/lazy_meta.hh, directories listed on demand
// with attribute and negative caches). Reads to fs/data/reader.hh (small objects fetched whole
// into a blob store by one GET shared by concurrent opens, large ones by ranged GETs with
// read-ahead), prefetch to fs/data/prefetch.hh, writes to fs/data/writer.hh, extended
// attributes to fs/meta/xattrs.hh. No FUSE types here: inode numbers, names, offsets and
// errno-carrying results (the value types are in fs/types.hh). Single-threaded: one filesystem
// belongs to one reactor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/abort.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "fs/cache/blob_store.hh"
#include "fs/index.hh"
#include "fs/inode_table.hh"
#include "fs/types.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs {

struct fs_context;
class metadata;
class index_metadata;
class lazy_metadata;
class xattr_reader;
class blob_fetcher;
class prefetcher;
class reader;
class writer;

class filesystem {
 public:
  filesystem(oss::object_client& client, fs_options opts,
             std::unique_ptr<blob_store> blobs = nullptr, clock_fn now = nullptr);
  ~filesystem();
  filesystem(const filesystem&) = delete;
  filesystem& operator=(const filesystem&) = delete;

  const fs_options& options() const;
  const fs_counters& counters() const;
  // Index mode: the index served now (lazy mode: an empty one).
  const index& current_index() const;
  // Kernel inode numbers of the current index are base + node.
  uint64_t current_index_base() const;
  // Index generations alive (the current one and older ones the kernel still holds).
  size_t index_generations() const;
  blob_store_stats cache_stats() const;
  // Whether the whole-object blob of file `ino` is cached now (planning a warmup); does not
  // mark it used.
  bool is_cached(uint64_t ino);
  // Stops prefetch and waits for the background work; call before destroying.
  task<void> close();

  // Index mode: lists the whole prefix (many ListObjectsV2 over disjoint key ranges, split
  // adaptively) and replaces the index. Also usable to install a loaded index: `adopt_index`.
  task<result<index_stats>> build_index();
  // Ends the index listings in flight and any started later (build, refresh) with ECANCELED:
  // a signal while the mount is still indexing. For good: the mount is being given up.
  void abort_listings();
  void adopt_index(index idx);
  // A restarted daemon (--supervise) takes the index the dead one served (fs/types.hh).
  using index_restore = fs::index_restore;
  void restore_index(index idx, const index_restore& r);
  bool current_index_provisional() const;
  // Lists the prefix again while the mount serves and installs the result as a new index
  // generation (fs/meta/index_build.cc); saves it where the last one came from. On failure the
  // current index goes on serving. EALREADY while another refresh runs.
  task<result<index_stats>> refresh_index();
  // Called after a refresh installed an index that differs from the one it replaces: makes the
  // kernel look every cached name up again (the mount sends FUSE_NOTIFY_INC_EPOCH). Without it,
  // names the kernel resolved stay until their entry timeout. An unchanged listing keeps the
  // current generation and its inode numbers, and calls nothing.
  void on_index_changed(std::function<task<status>()> forget_kernel_names);
  // How long the kernel may remember a failed lookup (index mode: the entry timeout, short while
  // the index is a reused one not yet confirmed by a refresh).
  std::chrono::nanoseconds negative_timeout() const;
  // A reused index is trusted by the kernel for at most this long until a refresh confirms it.
  static constexpr std::chrono::seconds provisional_timeout = provisional_index_timeout;
  // Reuses the index saved in `file` when it belongs to this bucket/prefix, is intact and is
  // younger than `max_age`; otherwise builds one and saves it there (a failed save is logged,
  // not fatal). `reused` tells which happened. A reused index is provisional: the caller should
  // refresh it soon (kernel timeouts stay short until then).
  task<result<index_stats>> load_or_build_index(const std::string& file,
                                                std::chrono::seconds max_age,
                                                bool* reused = nullptr);

  task<result<entry_reply>> lookup(uint64_t parent, std::string_view name);
  void forget(uint64_t ino, uint64_t nlookup);
  task<result<attr_reply>> getattr(uint64_t ino);

  task<result<uint64_t>> opendir(uint64_t ino);
  // Emits entries from `offset` (0 = start; "." and ".." first) until `emit` refuses one.
  task<status> readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus, const dir_emit& emit);
  void releasedir(uint64_t ino, uint64_t fh);
  // Whether the kernel may keep what it cached of this directory's listing (index mode: until a
  // refresh changed it; the root keeps its inode number across refreshes, so it is asked once
  // per refresh). Call at each opendir.
  bool keep_dir_cache(uint64_t ino);

  // `abort` (FUSE INTERRUPT) ends the wait with EINTR; a GET shared with other opens goes on.
  // `pin`: the handle holds its small object's blob until release (a passthrough backing file
  // needs it). An unpinned handle (noopen mode's long-lived implicit handles) leaves the blob to
  // the store's LRU budget and fetches it again should it be evicted before a later read.
  task<result<open_reply>> open(uint64_t ino, int flags, abort_source* abort = nullptr,
                                bool pin = true);
  // Fills `dest` from `offset`; returns fewer bytes only at end of file.
  task<result<size_t>> read(uint64_t ino, uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                            abort_source* abort = nullptr);
  void release(uint64_t ino, uint64_t fh);
  // Whether an open handle still reads the object its inode now describes (lazy mode: attributes
  // refreshed after attr_timeout may name a rewritten object). Long-lived handles (noopen mode's
  // implicit ones) are reopened when not.
  bool is_current(uint64_t fh);

  // ---- writes (fs/data/writer.hh): EROFS unless `writable` in lazy mode ----
  // A new empty file, staged and open for writing; it exists in OSS from its first flush. The
  // kernel sends CREATE only for a name its lookup found missing (O_EXCL is checked there).
  task<result<create_reply>> create(uint64_t parent, std::string_view name);
  // Stores `data` at `offset` of the staged file (an open for writing stages the object first,
  // unless it is truncated).
  task<result<size_t>> write(uint64_t ino, uint64_t fh, uint64_t offset,
                             std::span<const std::byte> data);
  // close(2): uploads the inode's staged file if it changed since its last upload (in the
  // background with `background_upload`).
  task<status> flush(uint64_t ino, uint64_t fh);
  // fsync(2): the same, always waiting for OSS's answer.
  task<status> fsync(uint64_t ino, uint64_t fh);
  // Truncates or extends the file to `size` (an open handle `fh`, or none: the object is staged,
  // resized and uploaded at once). Other attributes are not stored: returns them unchanged.
  task<result<attr_reply>> setattr(uint64_t ino, std::optional<uint64_t> size);
  task<result<entry_reply>> mkdir(uint64_t parent, std::string_view name);
  task<status> unlink(uint64_t parent, std::string_view name);
  task<status> rmdir(uint64_t parent, std::string_view name);
  // Files: CopyObject then DeleteObject. Directories: EXDEV (mv then copies and deletes).
  // `flags`: RENAME_NOREPLACE is honoured, anything else is EINVAL.
  task<status> rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                      std::string_view new_name, unsigned flags);

  task<result<fs_statfs>> statfs(uint64_t ino);
  task<result<std::string>> getxattr(uint64_t ino, std::string_view name);
  task<result<std::vector<std::string>>> listxattr(uint64_t ino);

 private:
  // Destroyed in reverse: the parts go before the context whose counters they hold.
  std::unique_ptr<fs_context> _ctx;
  std::unique_ptr<blob_store> _blobs;
  std::unique_ptr<metadata> _meta;
  index_metadata* _index = nullptr;  // _meta in index mode, else null
  lazy_metadata* _lazy = nullptr;    // _meta in lazy mode, else null
  std::unique_ptr<xattr_reader> _xattrs;
  std::unique_ptr<blob_fetcher> _fetcher;
  std::unique_ptr<prefetcher> _prefetch;
  std::unique_ptr<reader> _reader;
  std::unique_ptr<writer> _writer;
};

}  // namespace ossuring::fs
