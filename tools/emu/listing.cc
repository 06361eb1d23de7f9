// Listing over a store cursor; a rolled-up common prefix costs one seek past its keys.
#include "tools/emu/listing.hh"

#include <algorithm>

#include "http/oss/digest.hh"

namespace ossuring::emu {

list_page list_objects(store& s, const list_params& p) {
  list_page page;
  page.contents.reserve(std::min<size_t>(p.max_keys, 1000));
  size_t count = 0;
  const std::string& marker = p.marker;
  std::unique_ptr<cursor> cur = marker >= p.prefix ? s.seek(marker, false) : s.seek(p.prefix, true);
  while (cur->valid()) {
    const object_entry& e = cur->entry();
    if (!e.key.starts_with(p.prefix)) {
      // Keys with the prefix are contiguous in sorted order: nothing more can match.
      break;
    }
    if (!p.delimiter.empty()) {
      size_t pos = e.key.find(p.delimiter, p.prefix.size());
      if (pos != std::string::npos) {
        std::string cp = e.key.substr(0, pos + p.delimiter.size());
        // A common prefix sorting at or before the marker was returned by an earlier page (or
        // belongs to the range before the marker): items strictly after the marker only.
        if (cp > marker) {
          if (count == p.max_keys) {
            page.truncated = true;
            break;
          }
          page.common_prefixes.push_back(cp);
          ++count;
        }
        std::string next = prefix_successor(cp);
        if (next.empty()) {
          break;
        }
        cur = s.seek(next, true);
        continue;
      }
    }
    if (count == p.max_keys) {
      page.truncated = true;
      break;
    }
    page.contents.push_back(e);
    ++count;
    cur->next();
  }
  if (page.truncated) {
    // The last item returned, key or common prefix, whichever sorts later.
    std::string last_key = page.contents.empty() ? std::string() : page.contents.back().key;
    std::string last_cp =
        page.common_prefixes.empty() ? std::string() : page.common_prefixes.back();
    page.next_marker = std::max(last_key, last_cp);
  }
  return page;
}

std::string encode_continuation(std::string_view key) {
  std::string b = oss::base64_encode(key);
  std::string out;
  out.reserve(b.size());
  for (char c : b) {
    if (c == '+') {
      out.push_back('-');
    } else if (c == '/') {
      out.push_back('_');
    } else if (c != '=') {
      out.push_back(c);
    }
  }
  return out;
}

result<std::string> decode_continuation(std::string_view token) {
  std::string b;
  b.reserve(token.size() + 3);
  for (char c : token) {
    b.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  while (b.size() % 4 != 0) {
    b.push_back('=');
  }
  auto decoded = oss::base64_decode(b);
  if (!decoded) {
    return make_error(EINVAL, "invalid continuation token");
  }
  return std::move(*decoded);
}

}  // namespace ossuring::emu
