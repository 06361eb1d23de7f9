// ListObjects (V1) / ListObjectsV2 semantics over any store: prefix, delimiter roll-up into
// common prefixes, marker/start-after, max-keys and truncation, at O(page) cursor cost.
#pragma once

#include <string>
#include <vector>

#include "tools/emu/store.hh"

namespace ossuring::emu {

struct list_params {
  std::string prefix;
  std::string delimiter;
  std::string marker;  // exclusive lower bound (V1 marker, V2 start-after or decoded token)
  size_t max_keys = 100;
};

struct list_page {
  std::vector<object_entry> contents;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_marker;  // last key or common prefix returned, when truncated
};

list_page list_objects(store& s, const list_params& p);

// V2 continuation tokens: URL-safe base64 of the resume key (opaque to clients).
std::string encode_continuation(std::string_view key);
result<std::string> decode_continuation(std::string_view token);

}  // namespace ossuring::emu
