// Incremental HTTP/1.1 request and response parsing (RFC 9112) over caller-supplied buffers.
#include "http/h1_parser.hh"

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

namespace ossuring::http {

namespace {

error protocol_error(std::string message, int http_status = 400) {
  error e = make_error(EPROTO, "http/1.1: " + std::move(message));
  e.http_status = http_status;
  return e;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits `head` into lines without their CRLF/LF terminators.
std::vector<std::string_view> split_lines(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    if (nl == std::string_view::npos) {
      break;
    }
    head.remove_prefix(nl + 1);
  }
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  return lines;
}

status parse_header_lines(std::span<const std::string_view> lines, const h1_limits& limits,
                          header_list& out) {
  if (lines.size() > limits.max_headers) {
    return protocol_error(
        "too many header fields (limit " + std::to_string(limits.max_headers) + ")", 431);
  }
  for (std::string_view line : lines) {
    if (line.front() == ' ' || line.front() == '\t') {
      return protocol_error("obsolete line folding in header field");
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return protocol_error("header line without a colon");
    }
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) {
      return protocol_error("invalid header field name '" + std::string(name) + "'");
    }
    std::string_view value = trim(line.substr(colon + 1));
    if (value.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      return protocol_error("control character in header field '" + std::string(name) + "'");
    }
    out.add(name, value);
  }
  return {};
}

// Content-Length: every occurrence (and list element) must be the same decimal number.
result<std::optional<uint64_t>> content_length_of(const header_list& headers) {
  std::optional<uint64_t> length;
  for (const header& h : headers) {
    if (!iequals(h.name, "content-length")) {
      continue;
    }
    std::string_view rest = h.value;
    while (true) {
      size_t comma = rest.find(',');
      std::string_view item = trim(rest.substr(0, comma));
      uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
      if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) {
        return protocol_error("invalid Content-Length '" + std::string(h.value) + "'");
      }
      if (length && *length != v) {
        return protocol_error("conflicting Content-Length values");
      }
      length = v;
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
  }
  return length;
}

// Whether any Connection header lists `token`.
bool connection_has(const header_list& headers, std::string_view token) {
  for (const header& h : headers) {
    if (!iequals(h.name, "connection")) {
      continue;
    }
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) {
        return true;
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return false;
}

// Transfer-Encoding: returns nullopt when absent, else whether chunked is the final coding.
std::optional<bool> chunked_final(const header_list& headers) {
  std::optional<bool> chunked;
  for (const header& h : headers) {
    if (!iequals(h.name, "transfer-encoding")) {
      continue;
    }
    std::string_view v = h.value;
    size_t comma = v.rfind(',');
    std::string_view last = trim(comma == std::string_view::npos ? v : v.substr(comma + 1));
    chunked = iequals(last, "chunked");
  }
  return chunked;
}

// Parses "HTTP/1.x" and returns the minor version.
result<int> parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[5] != '1' || v[6] != '.' || v[7] < '0' ||
      v[7] > '9') {
    return protocol_error("unsupported protocol version '" + std::string(v) + "'", 505);
  }
  return v[7] - '0';
}

}  // namespace

namespace detail {

void h1_framing::reset_framing() {
  _phase = phase::head;
  _kind = h1_body_kind::none;
  _length = 0;
  _head.clear();
  _line.clear();
  _trailer_bytes = 0;
  _remaining = 0;
  _body_bytes = 0;
  _sink = nullptr;
}

status h1_framing::deliver(std::span<const char> bytes) {
  _body_bytes += bytes.size();
  if (_sink && !bytes.empty()) {
    return _sink(bytes);
  }
  return {};
}

result<size_t> h1_framing::feed_head(std::span<const char> data) {
  size_t used = 0;
  while (used < data.size()) {
    char c = data[used++];
    // Empty lines before the start line are ignored (RFC 9112 section 2.2).
    if (_head.empty() && (c == '\r' || c == '\n')) {
      continue;
    }
    _head.push_back(c);
    if (_head.size() > _limits.max_head_bytes) {
      return protocol_error(
          "message head exceeds " + std::to_string(_limits.max_head_bytes) + " bytes", 431);
    }
    if (c != '\n') {
      continue;
    }
    size_t n = _head.size();
    bool end = (n >= 2 && _head[n - 2] == '\n') ||
               (n >= 3 && _head[n - 2] == '\r' && _head[n - 3] == '\n');
    if (!end) {
      continue;
    }
    result<bool> final_head = parse_head(_head);
    if (!final_head) {
      return std::move(final_head).err();
    }
    _head.clear();
    if (!*final_head) {
      continue;  // interim response: the real head follows
    }
    switch (_kind) {
      case h1_body_kind::none:
        _phase = phase::done;
        break;
      case h1_body_kind::length:
        _remaining = _length;
        _phase = _length == 0 ? phase::done : phase::body_length;
        break;
      case h1_body_kind::chunked:
        _phase = phase::chunk_size;
        break;
      case h1_body_kind::until_eof:
        _phase = phase::eof_body;
        break;
    }
    break;
  }
  return used;
}

// Accumulates one line of the chunked framing (size line, CRLF after data, trailer line) and
// advances the phase when it is complete.
result<size_t> h1_framing::feed_chunk_line(std::span<const char> data, bool trailer) {
  size_t used = 0;
  while (used < data.size()) {
    char c = data[used++];
    if (c != '\n') {
      _line.push_back(c);
      size_t limit = trailer ? _limits.max_trailer_bytes : _limits.max_chunk_line;
      if (_line.size() + (trailer ? _trailer_bytes : 0) > limit) {
        return protocol_error(trailer ? "chunked trailers too large" : "chunk-size line too long");
      }
      continue;
    }
    std::string_view line = _line;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (_phase == phase::chunk_crlf) {
      if (!line.empty()) {
        return protocol_error("chunk data longer than its declared size");
      }
      _phase = phase::chunk_size;
    } else if (_phase == phase::trailers) {
      _trailer_bytes += _line.size() + 1;
      if (line.empty()) {
        _phase = phase::done;
      }
    } else {
      std::string_view size = line.substr(0, line.find(';'));
      size = trim(size);
      uint64_t n = 0;
      auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), n, 16);
      if (size.empty() || ec != std::errc() || ptr != size.data() + size.size()) {
        return protocol_error("invalid chunk size '" + std::string(line) + "'");
      }
      _remaining = n;
      _phase = n == 0 ? phase::trailers : phase::chunk_data;
    }
    _line.clear();
    return used;
  }
  return used;
}

result<size_t> h1_framing::feed_bytes(std::span<const char> data) {
  size_t used = 0;
  while (used < data.size() && _phase != phase::done) {
    std::span<const char> rest = data.subspan(used);
    switch (_phase) {
      case phase::head: {
        result<size_t> n = feed_head(rest);
        if (!n) {
          return std::move(n).err();
        }
        used += *n;
        if (head_complete()) {
          return used;  // let the caller inspect the head and install a sink
        }
        break;
      }
      case phase::body_length:
      case phase::chunk_data: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(_remaining, rest.size()));
        if (status s = deliver(rest.first(n)); !s) {
          return std::move(s).err();
        }
        used += n;
        _remaining -= n;
        if (_remaining == 0) {
          _phase = _phase == phase::body_length ? phase::done : phase::chunk_crlf;
        }
        break;
      }
      case phase::chunk_size:
      case phase::chunk_crlf:
      case phase::trailers: {
        result<size_t> n = feed_chunk_line(rest, _phase == phase::trailers);
        if (!n) {
          return std::move(n).err();
        }
        used += *n;
        break;
      }
      case phase::eof_body:
        if (status s = deliver(rest); !s) {
          return std::move(s).err();
        }
        used += rest.size();
        break;
      case phase::done:
        break;
    }
  }
  return used;
}

status h1_framing::feed_eof_bytes() {
  switch (_phase) {
    case phase::done:
      return {};
    case phase::eof_body:
      _phase = phase::done;
      return {};
    case phase::head:
      if (_head.empty()) {
        return make_error(ECONNRESET, "http/1.1: connection closed before a message started");
      }
      return protocol_error("connection closed inside the message head");
    case phase::body_length:
      return protocol_error("truncated body: connection closed after " +
                            std::to_string(_body_bytes) + " of " + std::to_string(_length) +
                            " bytes");
    default:
      return protocol_error("truncated chunked body: connection closed after " +
                            std::to_string(_body_bytes) + " bytes");
  }
}

}  // namespace detail

void h1_response_parser::start(std::string_view method) {
  reset_framing();
  _head_msg = {};
  _head_request = iequals(method, "HEAD");
  _keep_alive = true;
}

result<bool> h1_response_parser::parse_head(std::string_view head) {
  std::vector<std::string_view> lines = split_lines(head);
  std::string_view status_line = lines.front();
  size_t sp = status_line.find(' ');
  result<int> minor = parse_version(status_line.substr(0, sp));
  if (!minor) {
    return std::move(minor).err();
  }
  std::string_view code =
      sp == std::string_view::npos ? std::string_view() : status_line.substr(sp + 1, 3);
  int status_code = 0;
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), status_code);
  if (code.size() != 3 || ec != std::errc() || ptr != code.data() + 3 || status_code < 100 ||
      (status_line.size() > sp + 4 && status_line[sp + 4] != ' ')) {
    return protocol_error("malformed status line '" + std::string(status_line) + "'");
  }
  response msg;
  msg.status = status_code;
  if (status s = parse_header_lines(std::span(lines).subspan(1), _limits, msg.headers); !s) {
    return std::move(s).err();
  }
  if (status_code < 200 && status_code != 101) {
    if (_on_interim) {
      _on_interim(status_code);
    }
    return false;
  }
  _head_msg = std::move(msg);
  const header_list& h = _head_msg.headers;
  _keep_alive = *minor >= 1 ? !connection_has(h, "close") : connection_has(h, "keep-alive");
  result<std::optional<uint64_t>> length = content_length_of(h);
  if (!length) {
    return std::move(length).err();
  }
  std::optional<bool> chunked = chunked_final(h);
  if (_head_request || status_code == 204 || status_code == 304 || status_code == 101) {
    _kind = h1_body_kind::none;
    if (status_code == 101) {
      _keep_alive = false;  // the connection now speaks another protocol
    }
  } else if (chunked) {
    _kind = *chunked ? h1_body_kind::chunked : h1_body_kind::until_eof;
  } else if (*length) {
    _kind = h1_body_kind::length;
    _length = **length;
  } else {
    _kind = h1_body_kind::until_eof;
  }
  if (_kind == h1_body_kind::until_eof) {
    _keep_alive = false;
  }
  return true;
}

void h1_request_parser::start() {
  reset_framing();
  _head_msg = {};
  _keep_alive = true;
  _expect_continue = false;
}

result<bool> h1_request_parser::parse_head(std::string_view head) {
  std::vector<std::string_view> lines = split_lines(head);
  std::string_view line = lines.front();
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return protocol_error("malformed request line '" + std::string(line) + "'");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method) || target.empty()) {
    return protocol_error("malformed request line '" + std::string(line) + "'");
  }
  result<int> minor = parse_version(line.substr(sp2 + 1));
  if (!minor) {
    return std::move(minor).err();
  }
  request msg;
  msg.method = std::string(method);
  if (status s = parse_header_lines(std::span(lines).subspan(1), _limits, msg.headers); !s) {
    return std::move(s).err();
  }
  std::string_view authority = msg.headers.get("host");
  if (target.front() == '/' || target == "*") {
    msg.target = std::string(target);
    if (*minor >= 1 && !msg.headers.has("host")) {
      return protocol_error("missing Host header");
    }
  } else {
    // Absolute-form: scheme "://" authority path-abempty [ "?" query ].
    size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || !is_token(target.substr(0, scheme_end))) {
      return protocol_error("unsupported request target '" + std::string(target) + "'");
    }
    std::string_view rest = target.substr(scheme_end + 3);
    size_t path_start = rest.find_first_of("/?");
    authority = rest.substr(0, path_start);
    std::string_view path =
        path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
    msg.target = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
    if (authority.empty()) {
      return protocol_error("absolute-form target without authority");
    }
  }
  msg.authority = std::string(authority);
  _head_msg = std::move(msg);
  const header_list& h = _head_msg.headers;
  _keep_alive = *minor >= 1 ? !connection_has(h, "close") : connection_has(h, "keep-alive");
  _expect_continue = *minor >= 1 && iequals(trim(h.get("expect")), "100-continue");
  result<std::optional<uint64_t>> length = content_length_of(h);
  if (!length) {
    return std::move(length).err();
  }
  std::optional<bool> chunked = chunked_final(h);
  if (chunked) {
    if (!*chunked) {
      return protocol_error(
          "unsupported Transfer-Encoding '" + std::string(h.get("transfer-encoding")) + "'", 501);
    }
    _kind = h1_body_kind::chunked;
  } else if (*length && **length > 0) {
    _kind = h1_body_kind::length;
    _length = **length;
  } else {
    _kind = h1_body_kind::none;
  }
  return true;
}

}  // namespace ossuring::http
