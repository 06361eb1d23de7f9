// JSON string quoting for the few documents we write by hand (stats, control replies, the
// emulator's ECS answers). Reading JSON is simdjson's job.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace ossuring {

// `s` as a JSON string literal, quotes included; control characters escaped as \u00XX.
inline std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

}  // namespace ossuring
