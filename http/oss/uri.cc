// Percent-encoding, decoding and query strings.
#include "http/oss/uri.hh"

namespace ossuring::oss {

namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

std::string encode(std::string_view s, bool keep_slash) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string uri_encode(std::string_view s) {
  return encode(s, false);
}

std::string uri_encode_path(std::string_view s) {
  return encode(s, true);
}

result<size_t> uri_decode_in_place(char* s, size_t n, bool plus_as_space) {
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n) {
        return make_error(EINVAL, "truncated percent-escape at offset " + std::to_string(i));
      }
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return make_error(EINVAL, "invalid percent-escape at offset " + std::to_string(i));
      }
      s[out++] = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      s[out++] = c == '+' && plus_as_space ? ' ' : c;
    }
  }
  return out;
}

result<std::string> uri_decode(std::string_view s, bool plus_as_space) {
  std::string out(s);
  auto n = uri_decode_in_place(out.data(), out.size(), plus_as_space);
  if (!n) {
    return std::move(n).err();
  }
  out.resize(*n);
  return out;
}

result<query_params> parse_query(std::string_view query) {
  query_params params;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) {
      amp = query.size();
    }
    std::string_view item = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (item.empty()) {
      continue;
    }
    size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    auto n = uri_decode(name);
    if (!n) {
      return std::move(n).err();
    }
    auto v = uri_decode(value);
    if (!v) {
      return std::move(v).err();
    }
    params.emplace_back(std::move(*n), std::move(*v));
  }
  return params;
}

std::string build_query(const query_params& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += uri_encode(name);
    if (!value.empty()) {
      out.push_back('=');
      out += uri_encode(value);
    }
  }
  return out;
}

}  // namespace ossuring::oss
