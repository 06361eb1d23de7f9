// libFuzzer target: the ListObjects (V1 and V2) and error-body XML parsers never crash, leak or
// return a page that breaks their own invariants, whatever the bytes; parsing in place agrees
// with parsing a copy.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/oss/xml.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto v2 = ossuring::oss::parse_list_objects_v2(xml);
  auto v1 = ossuring::oss::parse_list_objects_v1(xml);
  auto err = ossuring::oss::parse_error_body(xml);
  auto hdr = ossuring::oss::parse_error_header(xml);
  if (v2.ok() && v2->objects.size() > size) {
    __builtin_trap();  // more entries than input bytes: an invented object
  }
  // Parsing inside the buffer must agree with parsing a copy.
  std::string buffer(xml);
  auto v2_in_place = ossuring::oss::parse_list_objects_v2_in_place(buffer);
  if (v2.ok() != v2_in_place.ok() ||
      (v2.ok() && (v2->objects.size() != v2_in_place->objects.size() ||
                   v2->common_prefixes != v2_in_place->common_prefixes ||
                   v2->next_continuation_token != v2_in_place->next_continuation_token))) {
    __builtin_trap();
  }
  for (size_t i = 0; v2.ok() && i < v2->objects.size(); ++i) {
    if (v2->objects[i].key != v2_in_place->objects[i].key ||
        v2->objects[i].size != v2_in_place->objects[i].size) {
      __builtin_trap();
    }
  }
  (void)v1;
  (void)err;
  (void)hdr;
  return 0;
}
