// ListObjects (V1) / ListObjectsV2 semantics over any store: prefix, delimiter roll-up into
// common prefixes, marker/start-after, max-keys and truncation, at O(page) cursor cost.
#pragma once

#include <string>
#include <vector>

#include "http/oss/xml_render.hh"
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

// What a ListBucketResult says besides its entries (shared with the client's test renderer).
using list_result_head = oss::list_result_head;

// ListBucketResult XML (V2 or V1) written straight into a string: byte for byte what
// oss::render_list_objects_v2/v1 produce through a DOM, at a fraction of the cost (a 1,000-key
// page is the emulator's most expensive answer). With a non-empty `owner_id`, every Contents
// ends with <Owner><ID>owner_id</ID><DisplayName>owner_id</DisplayName></Owner> after its
// StorageClass, as OSS writes it (the DOM renderers have no Owner).
std::string render_list_result(const list_result_head& head, const list_page& page, bool v2,
                               std::string_view owner_id = {});

// V2 continuation tokens: URL-safe base64 of the resume key (opaque to clients).
std::string encode_continuation(std::string_view key);
result<std::string> decode_continuation(std::string_view token);

}  // namespace ossuring::emu
