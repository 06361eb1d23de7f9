// Object operations: GetObject/HeadObject/GetObjectMeta (ranges, conditions), PutObject
// (x-oss-forbid-overwrite, If-Match, If-None-Match), CopyObject and DeleteObject.
#include <cctype>

#include <pugixml.hpp>

#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "tools/emu/detail/context.hh"
#include "tools/emu/detail/xml.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

namespace {

// Any ETag in a comma-separated If-Match/If-None-Match list equals `etag` ("*" matches all).
bool etag_listed(std::string_view list, std::string_view etag) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string_view item =
        list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') {
      item.remove_prefix(1);
    }
    while (!item.empty() && item.back() == ' ') {
      item.remove_suffix(1);
    }
    if (item.starts_with("W/")) {
      item.remove_prefix(2);
    }
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') {
      item = item.substr(1, item.size() - 2);
    }
    if (item == "*" || http::iequals(item, etag)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    pos = comma + 1;
  }
  return false;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) {
    return false;
  }
  out = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') {
      return false;
    }
    out = out * 10 + static_cast<uint64_t>(ch - '0');
  }
  return true;
}

// One satisfiable range of `bytes=a-b|a-|-n` into [first, last]; false when invalid or
// unsatisfiable (multiple ranges are invalid: OSS serves one range per request).
bool parse_range(std::string_view h, uint64_t size, uint64_t& first, uint64_t& last) {
  if (!h.starts_with("bytes=")) {
    return false;
  }
  h.remove_prefix(6);
  size_t dash = h.find('-');
  if (dash == std::string_view::npos || h.find(',') != std::string_view::npos) {
    return false;
  }
  std::string_view a = h.substr(0, dash);
  std::string_view b = h.substr(dash + 1);
  uint64_t x = 0;
  uint64_t y = 0;
  if (a.empty()) {
    if (!parse_u64(b, y) || y == 0 || size == 0) {
      return false;
    }
    first = size - std::min(y, size);
    last = size - 1;
    return true;
  }
  if (!parse_u64(a, x) || x >= size) {
    return false;
  }
  if (b.empty()) {
    first = x;
    last = size - 1;
    return true;
  }
  if (!parse_u64(b, y) || y < x) {
    return false;
  }
  first = x;
  last = std::min(y, size - 1);
  return true;
}

std::string crc_text(uint64_t crc) {
  return std::to_string(crc);
}

// Keys OSS accepts: 1..1023 bytes, not starting with '/' or '\'.
bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= 1023 && key.front() != '/' && key.front() != '\\';
}

std::vector<std::pair<std::string, std::string>> user_meta_of(const http::header_list& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const http::header& h : headers) {
    std::string name;
    for (char ch : h.name) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    }
    if (name.starts_with("x-oss-meta-")) {
      out.emplace_back(name.substr(11), h.value);
    } else if (name.starts_with("x-amz-meta-")) {
      out.emplace_back(name.substr(11), h.value);
    }
  }
  return out;
}

}  // namespace

response handler::get_or_head(context& c, bool meta_only) {
  auto meta = c.objects->head(c.key);
  if (!meta) {
    return error_response(c, 404, "NoSuchKey", "The specified key does not exist.");
  }
  const object_entry& e = meta->entry;
  const http::header_list& h = c.req.headers;
  response r;
  r.headers.add("ETag", detail::quote_etag(e.etag));
  r.headers.add("Last-Modified", oss::format_rfc1123(e.mtime));

  if (auto im = h.find("if-match"); im && !etag_listed(*im, e.etag)) {
    return error_response(c, 412, "PreconditionFailed",
                          "At least one of the pre-conditions you specified did not hold.");
  }
  if (auto ius = h.find("if-unmodified-since")) {
    auto t = oss::parse_rfc1123(*ius);
    if (t && e.mtime > *t) {
      return error_response(c, 412, "PreconditionFailed",
                            "At least one of the pre-conditions you specified did not hold.");
    }
  }
  bool not_modified = false;
  if (auto inm = h.find("if-none-match")) {
    not_modified = etag_listed(*inm, e.etag);
  } else if (auto ims = h.find("if-modified-since")) {
    auto t = oss::parse_rfc1123(*ims);
    not_modified = t && e.mtime <= *t;
  }
  if (not_modified) {
    r.status = 304;
    r.headers.add("Content-Length", "0");
    return r;
  }

  auto crc = c.objects->crc64(c.key);
  if (crc) {
    r.headers.add("x-oss-hash-crc64ecma", crc_text(*crc));
  }
  if (meta_only) {
    r.headers.add("Content-Length", std::to_string(e.size));
    r.headers.add("x-oss-last-access-time", oss::format_rfc1123(e.mtime));
    return r;
  }
  // response-* query parameters override the answer's headers, as OSS's GetObject allows.
  std::string_view content_type = c.has("response-content-type") ? c.param("response-content-type")
                                  : meta->content_type.empty()
                                      ? std::string_view("application/octet-stream")
                                      : std::string_view(meta->content_type);
  r.headers.add("Content-Type", std::string(content_type));
  for (auto [param, header] : {std::pair{"response-content-language", "Content-Language"},
                               {"response-expires", "Expires"},
                               {"response-cache-control", "Cache-Control"},
                               {"response-content-disposition", "Content-Disposition"},
                               {"response-content-encoding", "Content-Encoding"}}) {
    if (c.has(param)) {
      r.headers.add(header, std::string(c.param(param)));
    }
  }
  r.headers.add("x-oss-object-type", std::string(object_type_name(e.type)));
  r.headers.add("x-oss-storage-class", "Standard");
  r.headers.add("Accept-Ranges", "bytes");
  for (const auto& [name, value] : meta->user_meta) {
    r.headers.add("x-oss-meta-" + name, value);
  }

  uint64_t first = 0;
  uint64_t last = e.size == 0 ? 0 : e.size - 1;
  bool ranged = false;
  if (auto range = h.find("range")) {
    ranged = parse_range(*range, e.size, first, last);
    if (!ranged && http::iequals(h.get("x-oss-range-behavior"), "standard")) {
      response bad = error_response(c, 416, "InvalidRange", "The requested range is not valid.");
      bad.headers.add("Content-Range", "bytes */" + std::to_string(e.size));
      return bad;
    }
    // Without x-oss-range-behavior: standard, OSS ignores a bad range and sends everything.
  }
  uint64_t length = ranged ? last - first + 1 : e.size;
  r.headers.add("Content-Length", std::to_string(length));
  if (ranged) {
    r.status = 206;
    r.headers.add("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                       "/" + std::to_string(e.size));
  }
  if (c.req.method == "GET") {
    auto src = c.objects->open(c.key);
    if (!src) {
      return error_response(c, 404, "NoSuchKey", "The specified key does not exist.");
    }
    r.stream = ranged ? make_range_source(std::move(*src), first, length) : std::move(*src);
  }
  return r;
}

response handler::put_object(context& c) {
  if (!valid_key(c.key)) {
    return error_response(c, 400, "InvalidObjectName", "The specified object name is invalid.");
  }
  const http::header_list& h = c.req.headers;
  // Conditions are checked and the object written in one handler call on the one reactor
  // thread: of racing conditional writers exactly one succeeds.
  auto existing = c.objects->head(c.key);
  if (http::iequals(h.get("x-oss-forbid-overwrite"), "true") && existing) {
    return error_response(c, 409, "FileAlreadyExists", "The object you specified already exists.");
  }
  if (auto im = h.find("if-match"); im && (!existing || !etag_listed(*im, existing->entry.etag))) {
    return existing
               ? error_response(c, 412, "PreconditionFailed",
                                "At least one of the pre-conditions you specified did not hold.")
               : error_response(c, 404, "NoSuchKey", "The specified key does not exist.");
  }
  if (auto inm = h.find("if-none-match");
      inm && existing && etag_listed(*inm, existing->entry.etag)) {
    return error_response(c, 412, "PreconditionFailed",
                          "At least one of the pre-conditions you specified did not hold.");
  }
  const std::string content_md5 = oss::base64_encode(oss::md5(c.req.body));
  if (auto md5 = h.find("content-md5"); md5 && *md5 != content_md5) {
    return error_response(c, 400, "InvalidDigest",
                          "The Content-MD5 you specified did not match what we received.");
  }
  put_input in;
  in.data = c.req.body;
  in.content_type = std::string(h.get("content-type"));
  in.user_meta = user_meta_of(h);
  in.mtime = c.now;
  auto e = c.objects->put(c.key, std::move(in));
  if (!e) {
    return error_response(c, 500, "InternalError", e.err().message);
  }
  response r;
  r.headers.add("ETag", detail::quote_etag(e->etag));
  r.headers.add("Content-MD5", content_md5);
  if (auto crc = c.objects->crc64(c.key)) {
    r.headers.add("x-oss-hash-crc64ecma", crc_text(*crc));
  }
  return r;
}

std::optional<handler::copy_source> handler::copy_source_of(context& c, response& refusal) {
  const http::header_list& h = c.req.headers;
  std::string_view source =
      h.has("x-oss-copy-source") ? h.get("x-oss-copy-source") : h.get("x-amz-copy-source");
  source = source.substr(0, source.find('?'));
  if (source.starts_with('/')) {
    source.remove_prefix(1);
  }
  size_t slash = source.find('/');
  auto src_bucket = oss::uri_decode(source.substr(0, slash));
  auto src_key = oss::uri_decode(slash == std::string_view::npos ? "" : source.substr(slash + 1));
  if (!src_bucket || !src_key || src_key->empty()) {
    refusal = error_response(c, 400, "InvalidArgument", "x-oss-copy-source is invalid.");
    return std::nullopt;
  }
  store* from = find_bucket(*src_bucket);
  if (from == nullptr) {
    refusal = error_response(c, 404, "NoSuchBucket", "The specified source bucket does not exist.");
    return std::nullopt;
  }
  auto meta = from->head(*src_key);
  if (!meta) {
    refusal = error_response(c, 404, "NoSuchKey", "The specified source key does not exist.");
    return std::nullopt;
  }
  if (auto im = h.find("x-oss-copy-source-if-match"); im && !etag_listed(*im, meta->entry.etag)) {
    refusal = error_response(c, 412, "PreconditionFailed",
                             "At least one of the pre-conditions you specified did not hold.");
    return std::nullopt;
  }
  return copy_source{from, std::move(*src_key), std::move(*meta)};
}

response handler::copy_object(context& c) {
  if (!valid_key(c.key)) {
    return error_response(c, 400, "InvalidObjectName", "The specified object name is invalid.");
  }
  const http::header_list& h = c.req.headers;
  response refusal;
  std::optional<copy_source> source = copy_source_of(c, refusal);
  if (!source) {
    return refusal;
  }
  store* from = source->from;
  const std::string* src_key = &source->key;
  const object_meta* meta = &source->meta;
  if (meta->entry.size > _cfg.copy_limit) {
    return error_response(c, 400, "InvalidArgument",
                          "CopyObject supports objects up to " + std::to_string(_cfg.copy_limit) +
                              " bytes; use UploadPartCopy.");
  }
  auto src = from->open(*src_key);
  if (!src) {
    return error_response(c, 404, "NoSuchKey", "The specified source key does not exist.");
  }
  put_input in;
  in.data = read_all(**src);
  in.mtime = c.now;
  in.type = meta->entry.type;
  in.etag = meta->entry.etag;
  if (http::iequals(h.get("x-oss-metadata-directive"), "REPLACE") ||
      http::iequals(h.get("x-amz-metadata-directive"), "REPLACE")) {
    in.content_type = std::string(h.get("content-type"));
    in.user_meta = user_meta_of(h);
  } else {
    in.content_type = meta->content_type;
    in.user_meta = meta->user_meta;
  }
  auto e = c.objects->put(c.key, std::move(in));
  if (!e) {
    return error_response(c, 500, "InternalError", e.err().message);
  }
  // OSS writes LastModified before ETag, and the copy's CRC in a header.
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "CopyObjectResult");
  detail::add_text(root, "LastModified", oss::format_iso8601(e->mtime));
  detail::add_text(root, "ETag", detail::quote_etag(e->etag));
  response r = detail::xml_response(doc);
  r.headers.add("ETag", detail::quote_etag(e->etag));
  if (auto crc = c.objects->crc64(c.key)) {
    r.headers.add("x-oss-hash-crc64ecma", crc_text(*crc));
  }
  return r;
}

response handler::delete_object(context& c) {
  // OSS answers 204 whether or not the object existed.
  (void)c.objects->remove(c.key);
  response r;
  r.status = 204;
  return r;
}

response handler::delete_multiple(context& c) {
  // <Delete><Quiet>true</Quiet><Object><Key>k</Key></Object>...</Delete> (OSS and S3 alike).
  pugi::xml_document in;
  if (!in.load_buffer(c.req.body.data(), c.req.body.size()) || !in.child("Delete")) {
    return error_response(c, 400, "MalformedXML", "The XML you provided was not well-formed.");
  }
  if (auto md5 = c.req.headers.find("content-md5");
      md5 && *md5 != oss::base64_encode(oss::md5(c.req.body))) {
    return error_response(c, 400, "InvalidDigest",
                          "The Content-MD5 you specified did not match what we received.");
  }
  pugi::xml_node del = in.child("Delete");
  bool quiet = std::string_view(del.child_value("Quiet")) == "true";
  bool url = c.url_encoding();
  pugi::xml_document out;
  pugi::xml_node root = detail::start_document(out, "DeleteResult");
  if (url) {
    root.append_child("EncodingType").text().set("url");
  }
  for (pugi::xml_node o : del.children("Object")) {
    std::string key = o.child_value("Key");
    if (url) {
      auto decoded = oss::uri_decode(key);
      if (!decoded) {
        return error_response(c, 400, "InvalidArgument", "A key is not URL-encoded properly.");
      }
      key = std::move(*decoded);
    }
    (void)c.objects->remove(key);
    if (!quiet) {
      root.append_child("Deleted").append_child("Key").text().set(
          (url ? oss::uri_encode(key) : key).c_str());
    }
  }
  return detail::xml_response(out);
}

}  // namespace ossuring::emu
