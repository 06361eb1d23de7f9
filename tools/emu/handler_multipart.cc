// Multipart upload: initiate, upload part (bytes or a copied range), complete (validated like OSS)
// and abort.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>

#include "http/oss/crc64.hh"
#include "http/oss/digest.hh"
#include "http/oss/xml.hh"
#include "http/oss/xml_render.hh"
#include "tools/emu/detail/context.hh"
#include "tools/emu/detail/merge_cursor.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

namespace {

constexpr uint64_t min_part_size = 100 * 1024;
constexpr uint64_t max_part_size = 5ULL << 30;
constexpr unsigned max_part_number = 10000;

}  // namespace

response handler::initiate_multipart(context& c) {
  if (c.key.empty() || c.key.size() > 1023 || c.key.front() == '\\') {
    return error_response(c, 400, "InvalidObjectName", "The specified object name is invalid.");
  }
  upload u;
  u.bucket = c.bucket;
  u.key = c.key;
  u.content_type = std::string(c.req.headers.get("content-type"));
  for (const http::header& h : c.req.headers) {
    if (h.name.size() > 11 &&
        http::iequals(std::string_view(h.name).substr(0, 11), "x-oss-meta-")) {
      std::string name(h.name.substr(11));
      for (char& ch : name) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      u.user_meta.emplace_back(std::move(name), h.value);
    }
  }
  std::string id = new_upload_id();
  {
    std::lock_guard lock(_mu);
    _uploads.emplace(id, std::move(u));
  }
  response r;
  r.headers.add("Content-Type", "application/xml");
  r.body = oss::render_initiate_multipart(c.bucket, c.key, id);
  return r;
}

namespace {

// partNumber as OSS accepts it, 1..10000; 0 for anything else.
unsigned part_number_of(std::string_view pn) {
  unsigned number = 0;
  bool ok = !pn.empty() && pn.size() <= 5;
  for (char ch : pn) {
    ok = ok && ch >= '0' && ch <= '9';
    number = number * 10 + static_cast<unsigned>(ch - '0');
  }
  return ok && number <= max_part_number ? number : 0;
}

// "bytes=FIRST-LAST" inside an object of `size` bytes.
bool parse_copy_range(std::string_view v, uint64_t size, uint64_t& first, uint64_t& last) {
  if (!v.starts_with("bytes=")) {
    return false;
  }
  v.remove_prefix(6);
  size_t dash = v.find('-');
  if (dash == std::string_view::npos) {
    return false;
  }
  auto number = [](std::string_view s, uint64_t& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  return number(v.substr(0, dash), first) && number(v.substr(dash + 1), last) && first <= last &&
         last < size;
}

}  // namespace

response handler::store_part(context& c, unsigned number, std::string data, bool copied) {
  upload_part part;
  part.data = std::make_shared<const std::string>(std::move(data));
  oss::md5_digest digest = oss::md5(*part.data);
  part.digest.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
  part.etag = oss::hex_lower(digest);
  std::transform(part.etag.begin(), part.etag.end(), part.etag.begin(),
                 [](char ch) { return ch >= 'a' && ch <= 'f' ? static_cast<char>(ch - 32) : ch; });
  std::string etag = part.etag;
  uint64_t crc = oss::crc64(*part.data);
  {
    std::lock_guard lock(_mu);
    auto it = _uploads.find(c.param("uploadId"));
    if (it == _uploads.end() || it->second.bucket != c.bucket || it->second.key != c.key) {
      return error_response(c, 404, "NoSuchUpload", "The specified upload does not exist.");
    }
    it->second.parts.insert_or_assign(number, std::move(part));
  }
  response r;
  if (copied) {
    // UploadPartCopy answers with the ETag in a CopyPartResult body only.
    r.headers.add("Content-Type", "application/xml");
    r.body = oss::render_copy_part_result(etag, c.now);
  } else {
    r.headers.add("ETag", detail::quote_etag(etag));
    r.headers.add("x-oss-hash-crc64ecma", std::to_string(crc));
  }
  return r;
}

response handler::upload_part_op(context& c) {
  unsigned number = part_number_of(c.param("partNumber"));
  if (number == 0) {
    return error_response(c, 400, "InvalidArgument",
                          "Part number must be an integer between 1 and 10000.");
  }
  if (c.req.body.size() > max_part_size) {
    return error_response(c, 400, "EntityTooLarge",
                          "Your proposed upload exceeds the maximum allowed size.");
  }
  return store_part(c, number, c.req.body, false);
}

response handler::upload_part_copy(context& c) {
  unsigned number = part_number_of(c.param("partNumber"));
  if (number == 0) {
    return error_response(c, 400, "InvalidArgument",
                          "Part number must be an integer between 1 and 10000.");
  }
  response refusal;
  std::optional<copy_source> source = copy_source_of(c, refusal);
  if (!source) {
    return refusal;
  }
  const uint64_t size = source->meta.entry.size;
  uint64_t first = 0;
  uint64_t last = size == 0 ? 0 : size - 1;
  if (auto range = c.req.headers.find("x-oss-copy-source-range")) {
    if (!parse_copy_range(*range, size, first, last)) {
      return error_response(c, 400, "InvalidArgument",
                            "x-oss-copy-source-range is invalid for this object.");
    }
  }
  const uint64_t n = size == 0 ? 0 : last - first + 1;
  if (n > max_part_size) {
    return error_response(c, 400, "EntityTooLarge",
                          "Your proposed upload exceeds the maximum allowed size.");
  }
  auto src = source->from->open(source->key);
  if (!src) {
    return error_response(c, 404, "NoSuchKey", "The specified source key does not exist.");
  }
  std::string data(n, '\0');
  size_t got = (*src)->read(first, std::as_writable_bytes(std::span<char>(data)));
  if (got != n) {
    return error_response(c, 500, "InternalError", "short read of the copy source");
  }
  return store_part(c, number, std::move(data), true);
}

response handler::complete_multipart(context& c) {
  std::string id(c.param("uploadId"));
  upload u;
  {
    std::lock_guard lock(_mu);
    auto it = _uploads.find(id);
    if (it == _uploads.end() || it->second.bucket != c.bucket || it->second.key != c.key) {
      return error_response(c, 404, "NoSuchUpload", "The specified upload does not exist.");
    }
    u = it->second;  // copied: validation failures leave the upload intact
  }
  std::vector<oss::part_etag> listed;
  if (http::iequals(c.req.headers.get("x-oss-complete-all"), "yes")) {
    for (const auto& [n, p] : u.parts) {
      listed.push_back({n, p.etag});
    }
  } else {
    auto parsed = oss::parse_complete_multipart(c.req.body);
    if (!parsed) {
      return error_response(c, 400, "MalformedXML", "The XML you provided was not well-formed.");
    }
    listed = std::move(*parsed);
  }
  if (listed.empty()) {
    return error_response(c, 400, "MalformedXML", "The XML you provided was not well-formed.");
  }
  // Validated in OSS's order: part order, then part existence and ETags, then sizes.
  for (size_t i = 1; i < listed.size(); ++i) {
    if (listed[i].part_number <= listed[i - 1].part_number) {
      return error_response(c, 400, "InvalidPartOrder",
                            "The list of parts was not in ascending order.");
    }
  }
  for (const oss::part_etag& p : listed) {
    auto it = u.parts.find(p.part_number);
    if (it == u.parts.end() || !http::iequals(oss::strip_etag_quotes(p.etag), it->second.etag)) {
      return error_response(c, 400, "InvalidPart",
                            "One or more of the specified parts could not be found or the "
                            "specified entity tag might not have matched the part's entity tag.");
    }
  }
  std::string data;
  std::string md5s;
  size_t total = 0;
  for (const oss::part_etag& p : listed) {
    total += u.parts.at(p.part_number).data->size();
  }
  data.reserve(total);
  for (size_t i = 0; i < listed.size(); ++i) {
    const upload_part& part = u.parts.at(listed[i].part_number);
    if (i + 1 < listed.size() && part.data->size() < min_part_size) {
      return error_response(c, 400, "EntityTooSmall",
                            "Your proposed upload is smaller than the minimum allowed size.");
    }
    data += *part.data;
    md5s += part.digest;
  }
  // Like S3/OSS: MD5 of the concatenated part MD5s, then "-<parts>".
  std::string etag = detail::md5_etag(md5s) + "-" + std::to_string(listed.size());
  put_input in;
  in.data = std::move(data);
  in.content_type = u.content_type;
  in.user_meta = u.user_meta;
  in.type = object_type::multipart;
  in.etag = etag;
  in.mtime = c.now;
  auto e = c.objects->put(c.key, std::move(in));
  if (!e) {
    return error_response(c, 500, "InternalError", e.err().message);
  }
  {
    std::lock_guard lock(_mu);
    _uploads.erase(id);
  }
  response r;
  r.headers.add("Content-Type", "application/xml");
  r.headers.add("ETag", detail::quote_etag(e->etag));
  if (auto crc = c.objects->crc64(c.key)) {
    r.headers.add("x-oss-hash-crc64ecma", std::to_string(*crc));
  }
  r.body = oss::render_complete_multipart_result(c.bucket, c.key, e->etag);
  return r;
}

response handler::abort_multipart(context& c) {
  std::lock_guard lock(_mu);
  auto it = _uploads.find(c.param("uploadId"));
  if (it == _uploads.end() || it->second.bucket != c.bucket || it->second.key != c.key) {
    return error_response(c, 404, "NoSuchUpload", "The specified upload does not exist.");
  }
  _uploads.erase(it);
  response r;
  r.status = 204;
  return r;
}

}  // namespace ossuring::emu
