// metadata: names, attributes and directories, whatever tells them. One interface with two
// implementations, chosen once at construction (after mountpoint-s3's Metablock): index mode
// (fs/meta/index_meta.hh) answers from an in-memory listing of the whole prefix, lazy mode
// (fs/meta/lazy_meta.hh) lists directories on demand with attribute and negative caches.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hh"
#include "core/task.hh"
#include "fs/detail/context.hh"
#include "fs/index.hh"
#include "fs/inode_table.hh"
#include "fs/types.hh"

namespace ossuring::fs {

// What opening a file, xattrs and writes need of an inode.
struct node_info {
  std::string key;  // full key; directories end with '/'
  object_attrs attrs;
};

// A file's place among its siblings in listing order (index mode), for prefetch.
struct sibling_view {
  std::shared_ptr<const index> idx;
  uint64_t dir = 0;    // the parent's node
  uint64_t first = 0;  // the parent's first child
  uint64_t count = 0;  // its children
  uint64_t pos = 0;    // the file's position among them
};

class metadata {
 public:
  virtual ~metadata() = default;

  virtual task<result<entry_reply>> lookup(uint64_t parent, std::string_view name) = 0;
  virtual void forget(uint64_t ino, uint64_t nlookup) = 0;
  virtual task<result<attr_reply>> getattr(uint64_t ino) = 0;

  virtual task<result<uint64_t>> opendir(uint64_t ino) = 0;
  // Emits entries from `offset` (0 = start; "." and ".." first) until `emit` refuses one.
  virtual task<status> readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                               const dir_emit& emit) = 0;
  virtual void releasedir(uint64_t ino, uint64_t fh) = 0;
  // Whether the kernel may keep what it cached of this directory's listing.
  virtual bool keep_dir_cache(uint64_t ino) = 0;
  // How long the kernel may remember a failed lookup.
  virtual std::chrono::nanoseconds negative_timeout() const = 0;

  // The key and attributes of `ino` (ESTALE when unknown): builds the key, for opens, xattrs and
  // writes only.
  virtual result<node_info> resolve(uint64_t ino) = 0;
  // Whether `ino` still describes the object an open handle read (`etag`, `size`).
  virtual bool describes(uint64_t ino, const std::string& etag, uint64_t size) = 0;
  // Inodes known, for statfs.
  virtual uint64_t file_count() const = 0;
  // Where file `ino` stands among its siblings, when the mode knows (index mode, current
  // generation): prefetch follows listing order.
  virtual std::optional<sibling_view> siblings(uint64_t) { return std::nullopt; }
};

// readdir's "." (offset 0) and ".." (offset 1) from `offset` on; false when `emit` refused one.
inline bool emit_dots(const fs_context& ctx, uint64_t ino, uint64_t parent_ino, uint64_t offset,
                      const dir_emit& emit) {
  object_attrs dir_attrs;
  dir_attrs.is_dir = true;
  for (uint64_t off = offset; off < 2; ++off) {
    dir_entry e;
    e.name = off == 0 ? "." : "..";
    e.ino = off == 0 ? ino : parent_ino;
    e.is_dir = true;
    e.next_offset = off + 1;
    e.attr = ctx.make_attr(e.ino, dir_attrs);
    if (!emit(e)) {
      return false;
    }
  }
  return true;
}

}  // namespace ossuring::fs
