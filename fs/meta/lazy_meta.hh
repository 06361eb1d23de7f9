// lazy_metadata: lazy mode. Directories are listed on demand (one delimiter listing each, kept
// for attr_timeout), names looked up with one LIST, attributes refreshed after attr_timeout,
// and failed lookups remembered by a negative cache. Writes (fs/data/writer.hh) go through the
// same inodes and keep the cached listings true.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fs/detail/context.hh"
#include "fs/inode_table.hh"
#include "fs/meta/metadata.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs {

// What one LIST of prefix `name`, delimiter '/', tells of the object `name` and the directory
// `name/`, and whether each answer is exact (else a probe of its own must settle it).
struct lookup_probe {
  std::optional<object_attrs> file;
  bool is_dir = false;
  bool file_settled = false;
  bool dir_settled = false;
};
lookup_probe read_lookup_page(const oss::list_page& page, std::string_view file_key,
                              std::string_view dir_key);
// max-keys of a lookup's LIST: the object, one name between it and the directory (`name.txt`),
// and the directory. A whole page of 1,000 cost 13 MB for 10,000 stats.
inline constexpr unsigned lookup_page_keys = 3;

class lazy_metadata final : public metadata {
 public:
  explicit lazy_metadata(fs_context& ctx);

  task<result<entry_reply>> lookup(uint64_t parent, std::string_view name) override;
  void forget(uint64_t ino, uint64_t nlookup) override { _inodes.forget(ino, nlookup); }
  task<result<attr_reply>> getattr(uint64_t ino) override;
  task<result<uint64_t>> opendir(uint64_t ino) override;
  task<status> readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                       const dir_emit& emit) override;
  void releasedir(uint64_t ino, uint64_t fh) override;
  bool keep_dir_cache(uint64_t) override { return false; }
  std::chrono::nanoseconds negative_timeout() const override { return _ctx.opts.negative_timeout; }
  result<node_info> resolve(uint64_t ino) override;
  bool describes(uint64_t ino, const std::string& etag, uint64_t size) override;
  uint64_t file_count() const override { return _inodes.size(); }

  // For the writer, which creates, renames and removes names.
  inode_table& inodes() { return _inodes; }
  negative_cache& negative() { return _negative; }
  // Keeps a cached listing of `dir` true after a write: `name` now has `a` (null: is gone).
  void listing_put(uint64_t dir, std::string_view name, const object_attrs* a);

 private:
  task<result<std::shared_ptr<const dir_listing>>> list_dir(uint64_t ino);

  struct dir_handle {
    uint64_t ino = 0;
    std::shared_ptr<const dir_listing> listing;  // the snapshot opendir took
  };

  fs_context& _ctx;
  inode_table _inodes;
  negative_cache _negative;
  std::unordered_map<uint64_t, dir_handle> _dirs;
};

}  // namespace ossuring::fs
