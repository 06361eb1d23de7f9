// filesystem: the file-system logic the FUSE adapter calls (one coroutine per FUSE operation).
//
// No FUSE types here: inode numbers, names, offsets and errno-carrying results. Two modes share
// one API: index mode answers metadata from the in-memory `index` (zero requests after
// build_index), lazy mode lists directories on demand with attribute and negative caches. Reads
// fetch small objects whole into a blob store (one GET, shared by concurrent opens, If-Match on
// the known ETag, CRC-64 checked) and large ones by ranged GETs with sequential read-ahead.
// Single-threaded: one filesystem belongs to one reactor.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/abort.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "fs/blob_store.hh"
#include "fs/index.hh"
#include "fs/inode_table.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs {

namespace detail {
class task_group;
class async_event;
}  // namespace detail

enum class fs_mode { index, lazy };

// What opening a file prefetches (docs/semantics.md#prefetch): nothing, the next siblings in
// listing order (a window of `prefetch_ahead` files), or every small file of its directory.
enum class prefetch_policy { off, siblings, dir };

struct fs_options {
  fs_mode mode = fs_mode::index;
  std::string bucket;
  std::string prefix;  // "" or ending with '/'
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t umask = 0022;
  uint32_t file_mode = 0444;  // permission bits before umask (read-only mount)
  uint32_t dir_mode = 0555;
  std::chrono::nanoseconds attr_timeout = std::chrono::seconds(60);  // ossfs 2.0 attr_timeout
  std::chrono::nanoseconds entry_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds negative_timeout = std::chrono::seconds(0);            // kernel dentry
  std::chrono::nanoseconds oss_negative_cache_timeout = std::chrono::seconds(0);  // 0 = off
  size_t oss_negative_cache_size = 10000;
  uint64_t small_file_threshold = 1 << 20;  // at or below: one whole-object GET into a blob
  uint64_t readahead_min = 1 << 20;         // large files: first ranged GET size
  uint64_t readahead_max = 16 << 20;        // doubles on sequential reads up to this
  uint64_t readahead_chunk = 8 << 20;       // one ranged GET of the window at most this big
  unsigned list_parallelism = 16;           // ListObjectsV2 in flight during build_index
  unsigned list_page_size = 1000;  // max-keys of listing pages (index build, lazy readdir): 1..1000
  bool verify_crc64 = true;
  // After a READ of a file fails (a GET that timed out through its retries, say), a READ of the
  // same handle overlapping the failed range within this time answers the same error at once:
  // the kernel re-issues a READ that failed in its read-ahead, which would otherwise wait a whole
  // timeout cycle again and double the documented bound (docs/semantics.md "Reads and
  // consistency"). 0 = off.
  std::chrono::nanoseconds failed_read_memory = std::chrono::seconds(3);
  // Bytes of large-file read-ahead windows held at once (0 = unlimited); past it a read fetches
  // only what it asked for. Blobs are budgeted by the blob store's own limit.
  uint64_t buffer_limit = 0;
  // Bytes of whole-object GETs in flight (their buffers are in memory until stored), beyond the
  // blob store's limit, which for a cache folder budgets disk (0 = that limit alone).
  uint64_t fetch_buffer_limit = 0;
  prefetch_policy prefetch = prefetch_policy::off;
  unsigned prefetch_concurrency = 32;  // prefetch GETs in flight (reads never wait for these)
  unsigned prefetch_ahead = 0;         // siblings policy: files ahead; 0 = 2 * concurrency
  // directMode: no blobs, no read-ahead, no prefetch: each read is one ranged GET of exactly the
  // kernel's read (offset and size), for pure random reads.
  bool direct = false;
  // Writes (lazy mode only; docs/semantics.md "Writes"): files are staged locally and uploaded
  // when closed or fsynced, with PutObject up to `multipart_threshold` and a multipart upload of
  // `part_size` parts, `upload_parallelism` in flight, above it.
  bool writable = false;
  // Where staged files live, as unnamed files (O_TMPFILE); "" (or a folder that refuses them)
  // = memory (memfd).
  std::string staging_dir;
  uint64_t multipart_threshold = 64 << 20;
  uint64_t part_size = 8 << 20;
  unsigned upload_parallelism = 4;
  // rename copies objects up to this with one CopyObject (OSS's limit is 1 GB), larger ones
  // with UploadPartCopy of `part_size` ranges, `upload_parallelism` in flight.
  uint64_t copy_threshold = 1 << 30;
  // close() returns once the file is staged; its upload runs in the background (fsync and
  // unmount still wait for it), at most `background_uploads` at once: past that a close
  // uploads itself, which paces the writer.
  bool background_upload = false;
  unsigned background_uploads = 16;
};

struct file_attr {
  uint64_t ino = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t mode = 0;  // S_IFREG/S_IFDIR | permissions
  uint32_t nlink = 1;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t blksize = 4096;
};

struct entry_reply {
  file_attr attr;
  std::chrono::nanoseconds entry_timeout{};
  std::chrono::nanoseconds attr_timeout{};
};

struct attr_reply {
  file_attr attr;
  std::chrono::nanoseconds attr_timeout{};
};

struct open_reply {
  uint64_t fh = 0;
  int backing_fd = -1;      // a local file with the whole object: a passthrough candidate
  bool keep_cache = false;  // content is immutable for this handle (ETag pinned)
};

// One directory entry as readdir hands it to the adapter; `attr` is filled for readdirplus.
struct dir_entry {
  std::string_view name;
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t next_offset = 0;  // the cookie to resume after this entry
  file_attr attr;
  std::chrono::nanoseconds entry_timeout{};
  std::chrono::nanoseconds attr_timeout{};
};
// Returns false when the reply buffer is full; that entry was not sent (and not counted).
using dir_emit = std::function<bool(const dir_entry&)>;

struct fs_statfs {
  uint64_t blocks = 0;
  uint64_t bfree = 0;
  uint64_t bavail = 0;
  uint64_t files = 0;
  uint64_t ffree = 0;
  uint32_t bsize = 4096;
  uint32_t namelen = 255;
  uint32_t frsize = 4096;
};

// What the file system sent and saved, for `ossuring stats` and for tests.
struct fs_counters {
  uint64_t list_requests = 0;
  uint64_t meta_requests = 0;  // GetObjectMeta + HeadObject
  uint64_t get_requests = 0;
  uint64_t shared_fetch_waits = 0;  // opens that joined a GET already in flight
  uint64_t blob_hits = 0;
  uint64_t negative_hits = 0;
  uint64_t prefetch_gets = 0;       // whole-object GETs sent by prefetch
  uint64_t prefetch_queued = 0;     // files queued for prefetch
  uint64_t buffer_bytes = 0;        // read-ahead windows held now
  uint64_t interrupted = 0;         // reads and opens ended by an abort (FUSE INTERRUPT)
  uint64_t reads_failed_again = 0;  // READs answered with a failure just seen (failed_read_memory)
  uint64_t crc64_mismatches = 0;    // whole objects or read-through ranges whose CRC-64 differed
  uint64_t index_refreshes = 0;     // indexes listed again and installed under the live mount
  uint64_t uploads = 0;             // staged files written to OSS (PutObject or multipart)
  uint64_t upload_bytes = 0;
  uint64_t upload_failures = 0;
  uint64_t blobs_seeded = 0;  // uploaded small files kept as blobs: reading them needs no GET
};

struct create_reply {
  entry_reply entry;
  uint64_t fh = 0;
};

class filesystem {
 public:
  filesystem(oss::object_client& client, fs_options opts,
             std::unique_ptr<blob_store> blobs = nullptr, clock_fn now = nullptr);
  ~filesystem();
  filesystem(const filesystem&) = delete;
  filesystem& operator=(const filesystem&) = delete;

  const fs_options& options() const { return _opts; }
  const fs_counters& counters() const { return _counters; }
  const index& current_index() const { return *_cur->idx; }
  // Kernel inode numbers of the current index are base + node.
  uint64_t current_index_base() const { return _cur->base; }
  // Index generations alive (the current one and older ones the kernel still holds).
  size_t index_generations() const { return _gens.size(); }
  blob_store_stats cache_stats() const { return _blobs->stats(); }
  // Stops prefetch and waits for the background work; call before destroying.
  task<void> close();

  // Index mode: lists the whole prefix (many ListObjectsV2 over disjoint key ranges, split
  // adaptively) and replaces the index. Also usable to install a loaded index: `adopt_index`.
  task<result<index_stats>> build_index();
  // Ends the index listings in flight and any started later (build, refresh) with ECANCELED:
  // a signal while the mount is still indexing. For good: the mount is being given up.
  void abort_listings() { _list_abort.request_abort(); }
  void adopt_index(index idx);
  // A restarted daemon (--supervise) takes the index the dead one served, at the same base, so
  // the inode numbers the kernel holds name the same objects. The kernel may hold any of them:
  // the generation is never replaced in place (a refresh installs a new one). Inodes of older
  // generations the dead daemon served are unknown here (ESTALE).
  struct index_restore {
    uint64_t base = 0;         // the dead daemon's inode base of this index
    bool provisional = false;  // still unconfirmed by a refresh (reused from disk)
    std::string file;          // where refreshes save the index ("" = nowhere)
    unsigned restarts = 0;     // daemons before this one: handle numbers start above theirs
  };
  void restore_index(index idx, const index_restore& r);
  bool current_index_provisional() const { return _cur->provisional; }
  // Lists the prefix again while the mount serves and installs the result as a new index
  // generation (filesystem_index.cc); saves it where the last one came from. On failure the
  // current index goes on serving. EALREADY while another refresh runs.
  task<result<index_stats>> refresh_index();
  // Called after a refresh installed an index that differs from the one it replaces: makes the
  // kernel look every cached name up again (the mount sends FUSE_NOTIFY_INC_EPOCH). Without it,
  // names the kernel resolved stay until their entry timeout. An unchanged listing keeps the
  // current generation and its inode numbers, and calls nothing.
  void on_index_changed(std::function<task<status>()> forget_kernel_names) {
    _forget_kernel_names = std::move(forget_kernel_names);
  }
  // How long the kernel may remember a failed lookup (index mode: the entry timeout, short while
  // the index is a reused one not yet confirmed by a refresh).
  std::chrono::nanoseconds negative_timeout() const;
  // A reused index is trusted by the kernel for at most this long until a refresh confirms it.
  static constexpr std::chrono::seconds provisional_timeout{5};
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

  // ---- writes (filesystem_write.cc): EROFS unless `writable` in lazy mode ----
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
  struct node_info {
    std::string key;  // full key; directories end with '/'
    object_attrs attrs;
  };
  // One installed index (filesystem_index.cc, "Index generations"): kernel inode numbers
  // base + node (node >= 2; the root is always 1, of the newest generation).
  struct index_gen {
    std::shared_ptr<const index> idx;
    uint64_t base = 0;
    uint64_t lookups = 0;      // entries handed to the kernel and not yet forgotten
    uint64_t holds = 0;        // open directory handles
    bool provisional = false;  // loaded from disk and not yet confirmed by a refresh
  };
  struct node_ref {
    index_gen* gen;
    uint64_t node;
    const index& idx() const { return *gen->idx; }
  };
  struct dir_handle {
    uint64_t ino = 0;
    std::shared_ptr<const dir_listing> listing;  // lazy mode snapshot; null in index mode
    index_gen* gen = nullptr;                    // index mode: held until releasedir
    uint64_t node = 0;
  };
  struct chunk;
  struct open_file {
    uint64_t ino = 0;
    std::string key;
    std::string etag;
    uint64_t size = 0;
    std::shared_ptr<blob> whole;   // small files, pinned handles
    std::weak_ptr<blob> unpinned;  // small files, unpinned handles
    bool small = false;            // read from a whole-object blob
    // Large files: ranged GETs done or in flight, by offset, contiguous from the reader on.
    std::deque<std::shared_ptr<chunk>> chunks;
    const chunk* last_chunk = nullptr;  // the chunk the reader was last served from
    uint64_t next_off = 0;              // where a sequential reader continues
    uint64_t window = 0;                // bytes kept in flight/ready ahead of the reader
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
  struct fetch;
  struct build_state;
  // A file being written: one per inode, shared by its write handles (filesystem_write.cc).
  // A multipart upload begun while a large file is still being written in order
  // (filesystem_stream.cc): each part is sent as soon as the writer has passed it, so that the
  // close only sends the rest. Used at the next upload only if the file is still `in_order`
  // (any other change may have touched bytes of a part already sent).
  struct part_stream {
    std::string key;  // the key it was begun for (a rename makes it unusable)
    uint64_t part = 0;
    std::string id;         // upload id, empty until InitiateMultipartUpload answered
    bool starting = false;  // InitiateMultipartUpload in flight
    unsigned sent = 0;      // parts [0, sent) uploaded or being uploaded
    unsigned in_flight = 0;
    std::vector<oss::part_etag> etags;
    std::optional<error> failed;
    std::shared_ptr<detail::async_event> idle;  // set when nothing is in flight any more
  };
  struct staged_file {
    std::string key;
    int fd = -1;
    uint64_t size = 0;
    uint64_t version = 0;   // bumped by every change
    uint64_t uploaded = 0;  // the version OSS has (0: never uploaded)
    unsigned handles = 0;
    bool uploading = false;
    bool in_oss = false;    // the key exists in OSS (staged from it, or uploaded since)
    bool unlinked = false;  // removed while open: never uploaded again
    std::shared_ptr<detail::async_event> upload_done;  // set when the running upload ends
    bool in_order = true;  // every write so far appended at the end of an empty start
    std::shared_ptr<part_stream> stream;
    ~staged_file();
  };
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
  // Server-side copy for rename (filesystem_copy.cc): CopyObject up to copy_threshold (by
  // `size`, checked again when OSS refuses), UploadPartCopy ranges above it. When OSS was
  // asked for the source's size, `size` becomes it.
  task<result<oss::put_result>> copy_for_rename(const std::string& from, const std::string& to,
                                                uint64_t& size);
  task<result<oss::put_result>> copy_in_parts(const std::string& from, const std::string& to,
                                              const oss::object_info& source);
  // Part streams (filesystem_stream.cc).
  void stream_parts(const std::shared_ptr<staged_file>& s);
  task<void> stream_start(std::shared_ptr<staged_file> s, std::shared_ptr<part_stream> ps);
  task<void> stream_part(std::shared_ptr<staged_file> s, std::shared_ptr<part_stream> ps,
                         unsigned index);
  static task<void> stream_settled(part_stream& ps);
  task<void> stream_abort(std::shared_ptr<part_stream> ps);
  // The upload of `s` through its part stream, or nullopt when the stream cannot be used (it
  // is then aborted, and the caller uploads the whole file).
  task<std::optional<result<oss::put_result>>> upload_streamed(staged_file& s, uint64_t size);
  task<void> upload_on_release(uint64_t ino, std::shared_ptr<staged_file> s);
  task<void> upload_in_background(uint64_t ino, std::shared_ptr<staged_file> s);
  unsigned _background_uploads = 0;  // upload_in_background tasks running
  bool _staging_in_memory = false;   // staging_dir refused unnamed files: memfd instead
  result<lazy_inode*> writable_dir(uint64_t parent, std::string_view name);
  void dir_changed(uint64_t dir_ino);
  task<result<open_reply>> open_for_write(uint64_t ino, int flags);
  // The inode's staged file; without one yet, a new one holding the first `keep` bytes of the
  // object (EROFS, EISDIR as open would answer).
  task<result<std::shared_ptr<staged_file>>> staged_for(uint64_t ino, uint64_t keep);
  static result<size_t> read_staged(const staged_file& s, uint64_t offset,
                                    std::span<std::byte> dest);
  // Keeps a cached listing of `dir` true after a write: `name` now has `a` (null: is gone).
  void listing_put(uint64_t dir, std::string_view name, const object_attrs* a);
  static int64_t wall_now();

  result<node_info> resolve(uint64_t ino);  // builds the key: for opens and xattrs only
  static object_attrs index_attrs(const index& idx, uint64_t node);
  std::optional<node_ref> find_node(uint64_t ino);
  static uint64_t kernel_ino(const index_gen& g, uint64_t node) {
    return node == index::root_ino ? node : g.base + node;
  }
  void install_index(index idx, bool provisional);
  void maybe_drop(index_gen& g);
  std::optional<uint64_t> current_node_of(const node_ref& r) const;
  std::chrono::nanoseconds entry_timeout_of(const index_gen& g) const;
  std::chrono::nanoseconds attr_timeout_of(const index_gen& g) const;
  task<result<index>> list_index();
  void save_index();
  file_attr make_attr(uint64_t ino, const object_attrs& a) const;
  entry_reply make_entry(uint64_t ino, const object_attrs& a) const;
  fs_clock::time_point now() const { return _now(); }

  task<result<entry_reply>> lazy_lookup(uint64_t parent, std::string_view name);
  task<result<std::shared_ptr<const dir_listing>>> lazy_list_dir(uint64_t ino);
  // `prefetch`: may use only half the blob budget for GETs in flight (opens get all of it).
  std::shared_ptr<fetch> start_fetch(const std::string& key, const std::string& etag, uint64_t size,
                                     bool prefetch = false);
  task<result<std::shared_ptr<blob>>> get_whole(const std::string& key, const std::string& etag,
                                                uint64_t size, const std::string& id, bool prefetch,
                                                abort_source* cancel);
  void signal_room();
  // failed_read_memory: remembers a failed read of [off, end) on handle `fh`; the error a read
  // of [off, off + len) on it answers at once, if any.
  void remember_failure(uint64_t fh, const error& e, uint64_t off, uint64_t end);
  std::optional<error> recent_failure(open_file& f, uint64_t off, uint64_t len);
  // Ranged reads: extends the handle's in-order CRC-64 with chunk `c`; an error on a mismatch.
  status check_read_through(open_file& f, const chunk& c);
  task<result<size_t>> read_large(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                                  abort_source* abort);
  task<result<size_t>> read_unpinned(uint64_t fh, uint64_t offset, std::span<std::byte> dest,
                                     abort_source* abort);
  task<result<size_t>> read_direct(const open_file& f, uint64_t offset, std::span<std::byte> dest,
                                   abort_source* abort);
  std::shared_ptr<chunk> issue_chunk(open_file& f, uint64_t off, uint64_t len);
  void fill_ahead(open_file& f, uint64_t pos);
  void cancel_chunks(open_file& f, bool even_awaited);
  void prefetch_after_open(uint64_t ino);
  task<void> prefetch_worker();
  task<result<oss::object_info>> head_cached(uint64_t ino, const std::string& key);
  task<void> list_worker(build_state& st, std::string start_after, std::optional<std::string> last);

  oss::object_client& _client;
  fs_options _opts;
  std::unique_ptr<blob_store> _blobs;
  clock_fn _now;
  int64_t _started_sec = static_cast<int64_t>(::time(nullptr));  // wall clock at construction
  std::map<uint64_t, index_gen> _gens;                           // by base
  index_gen* _cur;          // the newest generation (never null)
  std::string _index_file;  // where the index is saved ("" = nowhere)
  bool _refreshing = false;
  std::function<task<status>()> _forget_kernel_names;
  uint64_t _installs = 0;            // indexes installed so far
  uint64_t _root_cache_install = 0;  // _installs when the kernel last cached the root listing
  abort_source _list_abort;          // fired by close(): listings in flight end
  inode_table _inodes;
  negative_cache _negative;
  std::unordered_map<uint64_t, dir_handle> _dirs;
  std::unordered_map<uint64_t, open_file> _files;
  std::unordered_map<uint64_t, std::shared_ptr<staged_file>> _staged;   // by inode
  std::unordered_map<uint64_t, std::shared_ptr<staged_file>> _writers;  // by write handle
  std::unordered_map<std::string, std::shared_ptr<fetch>> _fetching;    // by blob id
  std::unordered_map<uint64_t, std::pair<oss::object_info, fs_clock::time_point>> _heads;
  uint64_t _next_fh = 1;
  // A restored daemon's (restore_index): directory handles below _fh_floor are the dead
  // daemon's, rebuilt on use; new index generations start at _base_floor or above, clear of any
  // the dead daemon may have installed after its last handoff.
  uint64_t _fh_floor = 0;
  uint64_t _base_floor = 0;
  fs_counters _counters;
  struct prefetch_item {
    std::string key;
    std::string etag;
    uint64_t size = 0;
  };
  std::deque<prefetch_item> _prefetch_queue;
  std::unordered_map<uint64_t, uint64_t> _prefetch_cursor;  // dir ino -> next child to queue
  uint64_t _prefetch_queued_bytes = 0;
  unsigned _prefetch_running = 0;
  bool _closing = false;
  std::unique_ptr<detail::task_group> _background;
  std::shared_ptr<detail::async_event> _room;  // set (and replaced) when GET budget frees up
};

// Returns a key strictly between `lo` and `hi` (lo < hi) made of printable ASCII at the split
// position, or nullopt when none is found within a few bytes. Used to split listing ranges.
std::optional<std::string> split_key(std::string_view lo, std::string_view hi);

}  // namespace ossuring::fs
