// GetObject: whole objects (200, CRC-64 checked) or one range (206, Content-Range checked), the
// body written straight into the caller's buffer. Any answer that does not prove the bytes are
// exactly the ones asked for is an error: never wrong bytes.
#include <charconv>
#include <cstring>

#include "http/oss/client.hh"
#include "http/oss/crc64.hh"
#include "http/oss/time.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

namespace {

// Bytes beyond the expected body kept to read an error answer; more than this fails the stream.
constexpr size_t max_overflow = 64 * 1024;

struct content_range {
  bool unsatisfied = false;  // "bytes */total"
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t total = 0;
};

bool parse_number(std::string_view s, uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// "bytes 0-99/1000" or "bytes */1000".
std::optional<content_range> parse_content_range(std::string_view v) {
  if (!v.starts_with("bytes ")) {
    return std::nullopt;
  }
  v.remove_prefix(6);
  size_t slash = v.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  content_range cr;
  if (!parse_number(v.substr(slash + 1), cr.total)) {
    return std::nullopt;
  }
  std::string_view span = v.substr(0, slash);
  if (span == "*") {
    cr.unsatisfied = true;
    return cr;
  }
  size_t dash = span.find('-');
  if (dash == std::string_view::npos || !parse_number(span.substr(0, dash), cr.first) ||
      !parse_number(span.substr(dash + 1), cr.last) || cr.last < cr.first || cr.last >= cr.total) {
    return std::nullopt;
  }
  return cr;
}

struct sink_state {
  std::span<std::byte> dest;  // exactly the bytes this GET may fill
  size_t written = 0;
  std::string overflow;  // bytes beyond `dest`: an error body, or a server sending too much
  uint64_t crc = crc64_init;
  bool crc_wanted = false;

  void reset() {
    written = 0;
    overflow.clear();
    crc = crc64_init;
  }
  status take(std::span<const char> data) {
    size_t n = std::min(dest.size() - written, data.size());
    std::memcpy(dest.data() + written, data.data(), n);
    if (crc_wanted) {
      crc = crc64_update(crc, data.data(), n);
    }
    written += n;
    if (n < data.size()) {
      if (overflow.size() + (data.size() - n) > max_overflow) {
        return make_error(EIO, "response body larger than the bytes requested");
      }
      overflow.append(data.data() + n, data.size() - n);
    }
    return {};
  }
};

}  // namespace

task<result<get_result>> oss_client::get_object(const get_request& req, std::span<std::byte> dest,
                                                abort_source* abort) {
  const std::string key = req.key;
  const uint64_t offset = req.offset;
  const bool whole = offset == 0 && !req.length;
  if (req.length && *req.length > dest.size()) {
    co_return make_error(EINVAL, describe_call(api_id::get_object, key) + ": " +
                                     std::to_string(*req.length) + " bytes asked into a " +
                                     std::to_string(dest.size()) + "-byte buffer");
  }
  const uint64_t want = req.length ? *req.length : dest.size();
  if (!whole && want == 0) {
    co_return get_result{};
  }

  sink_state st;
  st.dest = dest.first(static_cast<size_t>(want));
  st.crc_wanted = whole;

  call c;
  c.api = api_id::get_object;
  c.method = "GET";
  c.key = key;
  if (!whole) {
    c.headers.add("Range",
                  "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + want - 1));
    c.headers.add("x-oss-range-behavior", "standard");
    if (offset == 0) {
      c.also_ok_status = 416;  // a ranged read of an empty object
    }
  }
  if (!req.if_match.empty()) {
    c.headers.add("If-Match", "\"" + req.if_match + "\"");
  }
  c.prepare = [&st, &c](http::exchange& ex) {
    st.reset();
    ex.response_body = [&st, &c](std::span<const char> data) {
      c.received += data.size();
      return st.take(data);
    };
  };
  c.sink_text = [&st] {
    std::string s(reinterpret_cast<const char*>(st.dest.data()), st.written);
    s += st.overflow;
    return s;
  };

  get_result out;
  c.validate = [&](const http::response& r) -> std::optional<failure> {
    auto fail = [&](std::string what, bool retryable = false, int code = EIO) {
      return failure{make_check_error(c.api, key, r, std::move(what), code), retryable};
    };
    std::string_view cl_text = r.headers.get("content-length");
    uint64_t content_length = 0;
    bool has_cl = parse_number(cl_text, content_length);
    if (r.status == 416) {
      auto cr = parse_content_range(r.headers.get("content-range"));
      if (!cr || !cr->unsatisfied || cr->total != 0) {
        return fail("416 for a range that should be satisfiable", false, EINVAL);
      }
      out.bytes = 0;
      out.object_size = 0;
      return std::nullopt;
    }
    if (!st.overflow.empty()) {
      return fail("response body larger than the " + std::to_string(st.dest.size()) +
                  " bytes requested");
    }
    if (has_cl && content_length != st.written) {
      return fail("body of " + std::to_string(st.written) + " bytes, Content-Length " +
                      std::string(cl_text),
                  true, EPROTO);
    }
    if (whole) {
      if (r.status != 200) {
        return fail("status " + std::to_string(r.status) + " to a whole-object GET");
      }
      out.object_size = st.written;
      std::string_view crc_text = r.headers.get("x-oss-hash-crc64ecma");
      uint64_t server_crc = 0;
      const bool has_crc = !crc_text.empty();
      if (has_crc && !parse_number(crc_text, server_crc)) {
        return fail("unparsable x-oss-hash-crc64ecma '" + std::string(crc_text) + "'");
      }
      // Without Content-Length the body is chunked (HTTP/1.1, whose framing the HTTP layer
      // checks to its last chunk), ends with the stream (HTTP/2, also checked) or runs until the
      // connection closes (HTTP/1.1): there a dropped connection looks like the end. Such a
      // body counts as whole when it fills the size the caller expects, or when the CRC-64 the
      // server announced matches it; a shorter one is a truncation, retried.
      const bool short_unframed =
          !has_cl && r.headers.get("transfer-encoding").empty() && st.written < st.dest.size();
      if (short_unframed && (!has_crc || server_crc != st.crc)) {
        return fail("body without Content-Length ended after " + std::to_string(st.written) +
                        " of the " + std::to_string(st.dest.size()) +
                        " bytes expected (connection closed early?)",
                    true, EPROTO);
      }
      if (has_crc) {
        if (server_crc != st.crc) {
          return fail("CRC-64 mismatch: received bytes have " + std::to_string(st.crc) +
                      ", the server says " + std::string(crc_text));
        }
        out.crc64 = server_crc;
      }
    } else {
      if (r.status != 206) {
        return fail("status " + std::to_string(r.status) + " to a ranged GET (range ignored?)");
      }
      auto cr = parse_content_range(r.headers.get("content-range"));
      const uint64_t asked_last = offset + want - 1;
      if (!cr || cr->unsatisfied || cr->first != offset || cr->last > asked_last ||
          cr->last - cr->first + 1 != st.written ||
          (cr->last != asked_last && cr->last + 1 != cr->total)) {
        return fail("Content-Range '" + std::string(r.headers.get("content-range")) +
                    "' does not match bytes=" + std::to_string(offset) + "-" +
                    std::to_string(asked_last) + " with " + std::to_string(st.written) +
                    " bytes received");
      }
      out.object_size = cr->total;
      uint64_t n = 0;
      std::string_view crc_text = r.headers.get("x-oss-hash-crc64ecma");
      if (parse_number(crc_text, n)) {
        out.crc64 = n;  // of the whole object, for callers that assemble it
      }
    }
    out.bytes = st.written;
    return std::nullopt;
  };

  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  // Only what get_result carries: parse_object_headers would copy every attribute.
  out.etag = std::string(strip_etag_quotes(r->headers.get("etag")));
  if (auto t = parse_rfc1123(r->headers.get("last-modified"))) {
    out.mtime_sec = *t;
  }
  out.request_id = std::string(r->headers.get("x-oss-request-id"));
  co_return out;
}

}  // namespace ossuring::oss
