// HTTP/1.1 head serialisation (RFC 9112) with framing headers and injection checks.
#include "http/h1_writer.hh"

#include <charconv>

namespace ossuring::http {

namespace {

bool has_forbidden(std::string_view s) {
  // A plain loop: find_first_of calls memchr once per character of `s`.
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return true;
    }
  }
  return false;
}

bool is_framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

void append_number(std::string& out, uint64_t v, int base = 10) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v, base);
  out.append(buf, ptr);
}

status append_headers(std::string& out, const header_list& headers, body_framing framing) {
  for (const header& h : headers) {
    if (h.name.empty() || has_forbidden(h.name) || has_forbidden(h.value) ||
        h.name.find(':') != std::string::npos) {
      return make_error(EINVAL, "http/1.1: invalid header field '" + std::string(h.name) + "'");
    }
    if (is_framing_header(h.name)) {
      continue;
    }
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  switch (framing.type) {
    case body_framing::kind::none:
      break;
    case body_framing::kind::length:
      out.append("Content-Length: ");
      append_number(out, framing.length);
      out.append("\r\n");
      break;
    case body_framing::kind::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
  }
  return {};
}

}  // namespace

status write_request_head(std::string& out, const request& req, body_framing framing) {
  if (req.method.empty() || req.target.empty() || has_forbidden(req.method) ||
      has_forbidden(req.target) || has_forbidden(req.authority) ||
      req.method.find(' ') != std::string::npos || req.target.find(' ') != std::string::npos) {
    return make_error(EINVAL, "http/1.1: invalid request line");
  }
  size_t start = out.size();
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  if (!req.headers.has("host")) {
    out.append("Host: ").append(req.authority).append("\r\n");
  }
  if (status s = append_headers(out, req.headers, framing); !s) {
    out.resize(start);
    return s;
  }
  out.append("\r\n");
  return {};
}

status write_response_head(std::string& out, int status_code, const header_list& headers,
                           body_framing framing, bool keep_alive) {
  if (status_code < 100 || status_code > 999) {
    return make_error(EINVAL, "http/1.1: invalid status " + std::to_string(status_code));
  }
  size_t start = out.size();
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<uint64_t>(status_code));
  out.append(" ").append(reason_phrase(status_code)).append("\r\n");
  if (status s = append_headers(out, headers, framing); !s) {
    out.resize(start);
    return s;
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n");
  return {};
}

void write_continue(std::string& out) {
  out.append("HTTP/1.1 100 Continue\r\n\r\n");
}

void write_chunk_header(std::string& out, size_t n) {
  append_number(out, n, 16);
  out.append("\r\n");
}

void write_chunk_end(std::string& out) {
  out.append("\r\n");
}

void write_last_chunk(std::string& out) {
  out.append("0\r\n\r\n");
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace ossuring::http
