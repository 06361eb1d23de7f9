// libFuzzer target: the ListObjects (V1 and V2) and error-body XML parsers never crash, leak or
// return a page that breaks their own invariants, whatever the bytes: every listed string lies
// inside the page's own text, and V1 and V2 read the same entries.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/oss/xml.hh"

namespace {

bool inside(std::string_view v, std::string_view text) {
  return v.empty() || (v.data() >= text.data() && v.data() + v.size() <= text.data() + text.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto v2 = ossuring::oss::parse_list_objects_v2(std::string(xml));
  auto v1 = ossuring::oss::parse_list_objects_v1(std::string(xml));
  auto err = ossuring::oss::parse_error_body(xml);
  auto hdr = ossuring::oss::parse_error_header(xml);
  if (v2.ok() && v2->objects.size() > size) {
    __builtin_trap();  // more entries than input bytes: an invented object
  }
  for (size_t i = 0; v2.ok() && i < v2->objects.size(); ++i) {
    const auto& o = v2->objects[i];
    std::string_view text = v2->text ? std::string_view(*v2->text) : std::string_view();
    if (o.key.empty() || !inside(o.key, text) || !inside(o.etag, text) ||
        !inside(o.storage_class, text) || !inside(o.object_type, text)) {
      __builtin_trap();
    }
  }
  // V1 differs only in how the next page is named: an entry one reads, the other reads alike.
  if (v2.ok() && v1.ok()) {
    if (v1->objects.size() != v2->objects.size() || v1->common_prefixes != v2->common_prefixes) {
      __builtin_trap();
    }
    for (size_t i = 0; i < v2->objects.size(); ++i) {
      if (v1->objects[i].key != v2->objects[i].key || v1->objects[i].size != v2->objects[i].size) {
        __builtin_trap();
      }
    }
  }
  (void)err;
  (void)hdr;
  return 0;
}
