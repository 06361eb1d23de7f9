// Multipart upload: initiate, upload part (bytes or a copied range), complete (validated like OSS),
// abort, ListParts and ListMultipartUploads.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>

#include "http/oss/crc64.hh"
#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"
#include "http/oss/xml.hh"
#include "tools/emu/detail/context.hh"
#include "tools/emu/detail/merge_cursor.hh"
#include "tools/emu/detail/xml.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

using detail::add_text;

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
  u.initiated = c.now;
  std::string id = new_upload_id();
  {
    std::lock_guard lock(_mu);
    _uploads.emplace(id, std::move(u));
  }
  const bool url = c.url_encoding();
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "InitiateMultipartUploadResult");
  add_text(root, "Bucket", c.bucket);
  add_text(root, "Key", url ? oss::uri_encode(c.key) : c.key);
  add_text(root, "UploadId", id);
  if (url) {
    add_text(root, "EncodingType", "url");
  }
  return detail::xml_response(doc);
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

// A paging parameter (max-parts, max-uploads, part-number-marker): absent gives `fallback`;
// false when it is not a number in [lo, hi].
bool paging_param(std::string_view v, bool present, unsigned fallback, unsigned lo, unsigned hi,
                  unsigned& out) {
  out = fallback;
  if (!present) {
    return true;
  }
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size() && out >= lo && out <= hi;
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
  part.crc = oss::crc64(*part.data);
  part.mtime = c.now;
  std::string etag = part.etag;
  const uint64_t crc = part.crc;
  const std::string content_md5 = oss::base64_encode(digest);
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
    pugi::xml_document doc;
    pugi::xml_node root = detail::start_document(doc, "CopyPartResult");
    add_text(root, "LastModified", oss::format_iso8601(c.now));
    add_text(root, "ETag", detail::quote_etag(etag));
    r = detail::xml_response(doc);
  } else {
    r.headers.add("ETag", detail::quote_etag(etag));
    r.headers.add("Content-MD5", content_md5);
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
  // OSS's order: [EncodingType], Location (the new object's URL), Bucket, Key, ETag.
  const bool url = c.url_encoding();
  const std::string key = url ? oss::uri_encode(c.key) : c.key;
  std::string_view host = c.req.authority.empty() ? c.req.headers.get("host") : c.req.authority;
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "CompleteMultipartUploadResult");
  if (url) {
    add_text(root, "EncodingType", "url");
  }
  add_text(root, "Location",
           "http://" + std::string(host) + (c.virtual_hosted ? "/" : "/" + c.bucket + "/") + key);
  add_text(root, "Bucket", c.bucket);
  add_text(root, "Key", key);
  add_text(root, "ETag", detail::quote_etag(e->etag));
  response r = detail::xml_response(doc);
  r.headers.add("ETag", detail::quote_etag(e->etag));
  if (auto crc = c.objects->crc64(c.key)) {
    r.headers.add("x-oss-hash-crc64ecma", std::to_string(*crc));
  }
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

response handler::list_parts(context& c) {
  unsigned max_parts = 0;
  unsigned marker = 0;
  if (!paging_param(c.param("max-parts"), c.has("max-parts"), 1000, 1, 1000, max_parts) ||
      !paging_param(c.param("part-number-marker"), c.has("part-number-marker"), 0, 0,
                    max_part_number, marker)) {
    return error_response(c, 400, "InvalidArgument", "max-parts or part-number-marker is invalid.");
  }
  struct listed_part {
    unsigned number;
    int64_t mtime;
    std::string etag;
    uint64_t crc;
    size_t size;
  };
  std::vector<listed_part> parts;
  bool truncated = false;
  {
    std::lock_guard lock(_mu);
    auto it = _uploads.find(c.param("uploadId"));
    if (it == _uploads.end() || it->second.bucket != c.bucket || it->second.key != c.key) {
      return error_response(c, 404, "NoSuchUpload", "The specified upload does not exist.");
    }
    for (auto p = it->second.parts.upper_bound(marker); p != it->second.parts.end(); ++p) {
      if (parts.size() == max_parts) {
        truncated = true;
        break;
      }
      parts.push_back(
          {p->first, p->second.mtime, p->second.etag, p->second.crc, p->second.data->size()});
    }
  }
  const bool url = c.url_encoding();
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "ListPartsResult");
  if (url) {
    add_text(root, "EncodingType", "url");
  }
  add_text(root, "Bucket", c.bucket);
  add_text(root, "Key", url ? oss::uri_encode(c.key) : c.key);
  add_text(root, "UploadId", c.param("uploadId"));
  add_text(root, "StorageClass", "Standard");
  add_text(root, "PartNumberMarker", std::to_string(marker));
  add_text(root, "NextPartNumberMarker",
           std::to_string(parts.empty() ? marker : parts.back().number));
  add_text(root, "MaxParts", std::to_string(max_parts));
  add_text(root, "IsTruncated", truncated ? "true" : "false");
  for (const listed_part& p : parts) {
    pugi::xml_node part = root.append_child("Part");
    add_text(part, "PartNumber", std::to_string(p.number));
    add_text(part, "LastModified", oss::format_iso8601(p.mtime));
    add_text(part, "ETag", detail::quote_etag(p.etag));
    add_text(part, "HashCrc64ecma", std::to_string(p.crc));
    add_text(part, "Size", std::to_string(p.size));
  }
  return detail::xml_response(doc);
}

response handler::list_multipart_uploads(context& c) {
  unsigned max_uploads = 0;
  if (!paging_param(c.param("max-uploads"), c.has("max-uploads"), 1000, 1, 1000, max_uploads)) {
    return error_response(c, 400, "InvalidArgument", "max-uploads must be between 1 and 1000.");
  }
  std::string_view enc = c.param("encoding-type");
  if (!enc.empty() && enc != "url") {
    return error_response(c, 400, "InvalidArgument", "encoding-type must be url.");
  }
  const std::string prefix(c.param("prefix"));
  const std::string delimiter(c.param("delimiter"));
  const std::string key_marker(c.param("key-marker"));
  const std::string id_marker(c.param("upload-id-marker"));
  struct listed_upload {
    std::string key;
    std::string id;
    int64_t initiated;
  };
  // The bucket's uploads in (key, upload id) order, after the markers: upload-id-marker only
  // counts together with key-marker (the uploads of that key after that id).
  std::vector<listed_upload> all;
  {
    std::lock_guard lock(_mu);
    for (const auto& [id, u] : _uploads) {
      if (u.bucket == c.bucket && u.key.starts_with(prefix) &&
          (u.key > key_marker || (!id_marker.empty() && u.key == key_marker && id > id_marker))) {
        all.push_back({u.key, id, u.initiated});
      }
    }
  }
  std::sort(all.begin(), all.end(), [](const listed_upload& a, const listed_upload& b) {
    return a.key != b.key ? a.key < b.key : a.id < b.id;
  });
  // Keys holding the delimiter after the prefix roll up into one common prefix, counted once.
  std::vector<const listed_upload*> uploads;
  std::vector<std::string> prefixes;
  std::string next_key;
  std::string next_id;
  bool truncated = false;
  for (const listed_upload& u : all) {
    size_t pos = delimiter.empty() ? std::string::npos : u.key.find(delimiter, prefix.size());
    std::string cp =
        pos == std::string::npos ? std::string() : u.key.substr(0, pos + delimiter.size());
    // A common prefix at or before key-marker was answered by an earlier page.
    if (!cp.empty() && ((!prefixes.empty() && prefixes.back() == cp) || cp <= key_marker)) {
      continue;
    }
    if (uploads.size() + prefixes.size() == max_uploads) {
      truncated = true;
      break;
    }
    if (!cp.empty()) {
      prefixes.push_back(std::move(cp));
      next_key = prefixes.back();
      next_id.clear();
    } else {
      uploads.push_back(&u);
      next_key = u.key;
      next_id = u.id;
    }
  }
  const bool url = enc == "url";
  auto encoded = [&](std::string_view s) { return url ? oss::uri_encode(s) : std::string(s); };
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "ListMultipartUploadsResult");
  if (url) {
    add_text(root, "EncodingType", "url");
  }
  add_text(root, "Bucket", c.bucket);
  add_text(root, "KeyMarker", encoded(key_marker));
  add_text(root, "UploadIdMarker", id_marker);
  add_text(root, "NextKeyMarker", truncated ? encoded(next_key) : std::string());
  add_text(root, "NextUploadIdMarker", truncated ? next_id : std::string());
  add_text(root, "Delimiter", encoded(delimiter));
  add_text(root, "Prefix", encoded(prefix));
  add_text(root, "MaxUploads", std::to_string(max_uploads));
  add_text(root, "IsTruncated", truncated ? "true" : "false");
  for (const listed_upload* u : uploads) {
    pugi::xml_node up = root.append_child("Upload");
    add_text(up, "Key", encoded(u->key));
    add_text(up, "UploadId", u->id);
    add_text(up, "Initiated", oss::format_iso8601(u->initiated));
  }
  for (const std::string& p : prefixes) {
    add_text(root.append_child("CommonPrefixes"), "Prefix", encoded(p));
  }
  return detail::xml_response(doc);
}

}  // namespace ossuring::emu
