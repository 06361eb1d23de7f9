// xattr_reader: the user.oss.* extended attributes (ETag, storage class, CRC-64, user metadata),
// answered from metadata where it knows them and from a cached HEAD otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fs/detail/context.hh"
#include "fs/meta/metadata.hh"

namespace ossuring::fs {

class xattr_reader {
 public:
  xattr_reader(fs_context& ctx, metadata& meta) : _ctx(ctx), _meta(meta) {}

  task<result<std::string>> get(uint64_t ino, std::string_view name);
  task<result<std::vector<std::string>>> list(uint64_t ino);
  // The kernel forgot `ino`, or every inode number now names another object (`forget_all`).
  void forget(uint64_t ino) { _heads.erase(ino); }
  void forget_all() { _heads.clear(); }

 private:
  task<result<oss::object_info>> head_cached(uint64_t ino, const std::string& key);

  fs_context& _ctx;
  metadata& _meta;
  std::unordered_map<uint64_t, std::pair<oss::object_info, fs_clock::time_point>> _heads;
};

}  // namespace ossuring::fs
