// libFuzzer target: the HTTP/1.1 response parser, fed the input in pieces of fuzzer-chosen
// sizes, never crashes, never consumes more than it was given and never delivers more body
// bytes than it was fed.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "http/h1_parser.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ossuring::http::h1_response_parser p;
  p.start(in.ConsumeBool() ? "HEAD" : "GET");
  size_t delivered = 0;
  size_t fed = 0;
  p.set_body_sink([&](std::span<const char> s) {
    delivered += s.size();
    return ossuring::status{};
  });
  while (in.remaining_bytes() > 0) {
    std::string piece = in.ConsumeRandomLengthString(4096);
    std::string_view rest = piece;
    while (!rest.empty()) {
      auto n = p.feed(rest);
      if (!n.ok()) {
        return 0;
      }
      if (*n > rest.size()) {
        __builtin_trap();
      }
      fed += *n;
      if (p.complete()) {
        // Keep-alive: the leftover starts the next response.
        p.start("GET");
        p.set_body_sink([&](std::span<const char> s) {
          delivered += s.size();
          return ossuring::status{};
        });
      }
      if (*n == 0) {
        break;
      }
      rest.remove_prefix(*n);
    }
  }
  (void)p.feed_eof();
  if (delivered > fed) {
    __builtin_trap();
  }
  return 0;
}
