// libFuzzer target: the ListObjects (V1 and V2) and error-body XML parsers never crash, leak or
// return a page that breaks their own invariants, whatever the bytes.
#include <cstddef>
#include <cstdint>
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
  (void)v1;
  (void)err;
  (void)hdr;
  return 0;
}
