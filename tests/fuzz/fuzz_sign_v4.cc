// libFuzzer target: the V1/V4 string-to-sign canonicalizers and the server-side Authorization
// parser on arbitrary methods, keys, query parameters and headers.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "http/oss/sign.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace oss = ossuring::oss;
  FuzzedDataProvider in(data, size);
  std::string method = in.ConsumeRandomLengthString(16);
  std::string bucket = in.ConsumeRandomLengthString(64);
  std::string key = in.ConsumeRandomLengthString(1100);
  oss::signing_input si;
  si.method = method;
  si.bucket = bucket;
  si.key = key;
  ossuring::http::header_list headers;
  std::vector<std::string> additional;
  int n = in.ConsumeIntegralInRange(0, 16);
  for (int i = 0; i < n; ++i) {
    std::string name = in.ConsumeRandomLengthString(40);
    std::string value = in.ConsumeRandomLengthString(200);
    switch (in.ConsumeIntegralInRange(0, 2)) {
      case 0:
        si.query.emplace_back(std::move(name), std::move(value));
        break;
      case 1:
        headers.add(std::move(name), std::move(value));
        break;
      default:
        additional.push_back(std::move(name));
        break;
    }
  }
  si.headers = &headers;
  std::string creq = oss::v4_canonical_request(si, additional);
  std::string date = in.ConsumeRandomLengthString(20);
  std::string sts = oss::v4_string_to_sign(creq, date, in.ConsumeRandomLengthString(20));
  std::string v1 = oss::v1_string_to_sign(si);
  (void)oss::v4_normalize_additional_headers(additional);
  (void)oss::parse_authorization(in.ConsumeRemainingBytesAsString());
  if (creq.empty() || sts.empty() || v1.empty()) {
    __builtin_trap();  // every canonical form has at least its fixed lines
  }
  return 0;
}
