// The file system's value types: options, attributes, replies and counters. What the FUSE codec
// and adapter need to speak to the file system, without the `filesystem` class behind it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ossuring::fs {

enum class fs_mode { index, lazy };

// What opening a file prefetches (docs/semantics.md#prefetch): nothing, the next siblings in
// listing order (a window of `prefetch_ahead` files), every small file of its directory, or
// (`adaptive`, the default: `--prefetch auto`) the files ahead of a reader seen walking its
// directory in listing order or repeating the order of files opened before.
enum class prefetch_policy { off, siblings, dir, adaptive };

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
  prefetch_policy prefetch = prefetch_policy::adaptive;
  unsigned prefetch_concurrency = 32;  // prefetch GETs in flight (reads never wait for these)
  unsigned prefetch_ahead = 0;         // siblings, auto: files ahead; 0 = 2 * concurrency
  // directMode: no blobs, no read-ahead, no prefetch: each read is one ranged GET of exactly the
  // kernel's read (offset and size), for pure random reads.
  bool direct = false;
  // Whether an open reply carries a descriptor of the blob (open_reply::backing_fd) for FUSE
  // passthrough. Only passthrough mode uses it, and for a blob in memory it costs a copy into
  // a sealed memfd, so the other open modes turn it off.
  bool backing_files = true;
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
  // Index mode, --shared-index (docs/semantics.md "Shared index"): the key, in the mounted bucket,
  // of an index image every mount of this bucket/prefix starts from; "" = none. A mount that
  // finds no valid image lists and publishes one; once the image is `shared_index_interval` old,
  // one mount (the winner of a create-only lease object) lists again and publishes, the others
  // take the new image when they see its ETag change.
  std::string shared_index;
  std::chrono::seconds shared_index_interval{3600};
  // A mount that lost the lease at start waits this long for the winner's image, then lists.
  std::chrono::seconds shared_index_wait{120};
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

// A reused index is trusted by the kernel for at most this long until a refresh confirms it.
inline constexpr std::chrono::seconds provisional_index_timeout{5};

struct create_reply {
  entry_reply entry;
  uint64_t fh = 0;
};

}  // namespace ossuring::fs
