// OSS XML bodies read with pugixml: strict about numbers, booleans and URL-encoding.
#include "http/oss/xml.hh"

#include <algorithm>
#include <charconv>
#include <pugixml.hpp>

#include "http/oss/detail/pugi_string.hh"
#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"

namespace ossuring::oss {

namespace {

error bad_xml(std::string_view what) {
  return make_error(EIO, "malformed OSS response: " + std::string(what));
}

// No end-of-line normalisation: a key holding '\r' must come back as it was. Text is kept in
// its element (embed_pcdata) rather than in a child node: half the nodes for a listing, and
// xml_text reads either form.
constexpr unsigned parse_flags =
    (pugi::parse_default & ~pugi::parse_eol) | pugi::parse_embed_pcdata;

// Parses `xml` and returns its root element, which must be named `root`. With `in_place`, the
// parser works inside `xml` (which it overwrites) instead of a copy.
result<pugi::xml_node> load(pugi::xml_document& doc, std::string_view xml, const char* root,
                            char* in_place = nullptr) {
  if (xml.size() > max_xml_body) {
    return bad_xml("body of " + std::to_string(xml.size()) + " bytes is too large");
  }
  // XML has no NUL character, and pugixml takes one for the end of input: in place, with the
  // buffer's real last byte '>', it would accept a document cut short at the NUL.
  if (size_t nul = xml.find('\0'); nul != std::string_view::npos) {
    return bad_xml("NUL byte at offset " + std::to_string(nul));
  }
  pugi::xml_parse_result r =
      in_place != nullptr
          ? doc.load_buffer_inplace(in_place, xml.size(), parse_flags, pugi::encoding_utf8)
          : doc.load_buffer(xml.data(), xml.size(), parse_flags, pugi::encoding_utf8);
  if (!r) {
    return bad_xml(std::string(r.description()) + " at offset " + std::to_string(r.offset));
  }
  pugi::xml_node node = doc.document_element();
  if (std::string_view(node.name()) != root) {
    return bad_xml("expected <" + std::string(root) + ">, got <" + node.name() + ">");
  }
  return node;
}

std::string_view text(pugi::xml_node parent, const char* name) {
  return parent.child(name).text().get();
}

// Decodes into `out` (reusing its storage); keys without escapes are copied as they are.
status decode_into(std::string& out, std::string_view v, bool url, const char* field) {
  if (!url || std::none_of(v.begin(), v.end(), [](char c) { return c == '%' || c == '+'; })) {
    out.assign(v);
    return {};
  }
  auto d = uri_decode(v, true);
  if (!d) {
    return bad_xml(std::string("bad URL-encoding in ") + field + ": " + d.err().message);
  }
  out = std::move(*d);
  return {};
}

result<std::string> maybe_decode(std::string_view v, bool url, const char* field) {
  std::string out;
  if (status s = decode_into(out, v, url, field); !s) {
    return std::move(s).err();
  }
  return out;
}

result<uint64_t> parse_u64(std::string_view v, const char* field) {
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
    return bad_xml(std::string("invalid ") + field + " \"" + std::string(v.substr(0, 32)) + "\"");
  }
  return n;
}

result<bool> parse_bool(std::string_view v, const char* field) {
  if (v == "true") {
    return true;
  }
  if (v == "false" || v.empty()) {
    return false;
  }
  return bad_xml(std::string("invalid ") + field + " \"" + std::string(v.substr(0, 32)) + "\"");
}

// name == want, for a NUL-terminated element name; inlined against each literal (a listing
// compares ~10 names per key).
inline bool named(const char* name, std::string_view want) {
  for (char c : want) {
    if (*name++ != c) {
      return false;  // also stops at the name's NUL
    }
  }
  return *name == '\0';
}

// One <Contents>: its children are walked once (a child(name) lookup per field would rescan
// them for each). The first of duplicate fields counts, as child(name) would have it.
status parse_contents(pugi::xml_node c, bool url, object_info& info) {
  const char* key = nullptr;
  const char* size = nullptr;
  const char* last_modified = nullptr;
  const char* etag = nullptr;
  const char* type = nullptr;
  const char* storage_class = nullptr;
  for (pugi::xml_node f = c.first_child(); f; f = f.next_sibling()) {
    if (f.type() != pugi::node_element) {
      continue;
    }
    const char* n = f.name();
    const char** slot = nullptr;
    switch (n[0]) {
      case 'K':
        slot = named(n, "Key") ? &key : nullptr;
        break;
      case 'S':
        slot = named(n, "Size") ? &size : named(n, "StorageClass") ? &storage_class : nullptr;
        break;
      case 'L':
        slot = named(n, "LastModified") ? &last_modified : nullptr;
        break;
      case 'E':
        slot = named(n, "ETag") ? &etag : nullptr;
        break;
      case 'T':
        slot = named(n, "Type") ? &type : nullptr;
        break;
      default:
        break;
    }
    if (slot != nullptr && *slot == nullptr) {
      *slot = f.text().get();
    }
  }
  auto view = [](const char* v) { return v != nullptr ? std::string_view(v) : std::string_view(); };
  if (status s = decode_into(info.key, view(key), url, "Key"); !s) {
    return s;
  }
  if (info.key.empty()) {
    return bad_xml("Contents without Key");
  }
  auto n = parse_u64(view(size), "Size");
  if (!n) {
    return std::move(n).err();
  }
  info.size = *n;
  if (std::string_view lm = view(last_modified); !lm.empty()) {
    auto t = parse_iso8601(lm);
    if (!t) {
      return bad_xml("invalid LastModified of " + info.key);
    }
    info.mtime_sec = t->sec;
    info.mtime_nsec = t->nsec;
  }
  info.etag.assign(strip_etag_quotes(view(etag)));
  info.object_type.assign(view(type));
  info.storage_class.assign(view(storage_class));
  return {};
}

// The parts V1 and V2 listings share: Contents, CommonPrefixes, IsTruncated.
status parse_listing_body(pugi::xml_node root, bool url, list_page& page) {
  auto truncated = parse_bool(text(root, "IsTruncated"), "IsTruncated");
  if (!truncated) {
    return std::move(truncated).err();
  }
  page.truncated = *truncated;
  // Counted first so the page's vectors are allocated once, at their final size.
  size_t objects = 0;
  size_t prefixes = 0;
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
    const char* n = c.name();
    if (n[0] == 'C') {
      objects += named(n, "Contents");
      prefixes += named(n, "CommonPrefixes");
    }
  }
  page.objects.reserve(objects);
  page.common_prefixes.reserve(prefixes);
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
    const char* n = c.name();
    if (n[0] != 'C') {
      continue;
    }
    if (named(n, "Contents")) {
      if (status s = parse_contents(c, url, page.objects.emplace_back()); !s) {
        return s;
      }
    } else if (named(n, "CommonPrefixes")) {
      if (status s = decode_into(page.common_prefixes.emplace_back(), text(c, "Prefix"), url,
                                 "CommonPrefixes/Prefix");
          !s) {
        return s;
      }
    }
  }
  return {};
}

bool url_encoded(pugi::xml_node root) {
  return text(root, "EncodingType") == "url";
}

}  // namespace

std::string_view strip_etag_quotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

namespace {

result<list_page> parse_v2(std::string_view xml, char* in_place) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "ListBucketResult", in_place);
  if (!root) {
    return std::move(root).err();
  }
  bool url = url_encoded(*root);
  list_page page;
  if (status s = parse_listing_body(*root, url, page); !s) {
    return std::move(s).err();
  }
  auto token = maybe_decode(text(*root, "NextContinuationToken"), url, "NextContinuationToken");
  if (!token) {
    return std::move(token).err();
  }
  page.next_continuation_token = std::move(*token);
  if (page.truncated && page.next_continuation_token.empty()) {
    return bad_xml("truncated ListObjectsV2 page without NextContinuationToken");
  }
  return page;
}

result<list_page> parse_v1(std::string_view xml, char* in_place) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "ListBucketResult", in_place);
  if (!root) {
    return std::move(root).err();
  }
  bool url = url_encoded(*root);
  list_page page;
  if (status s = parse_listing_body(*root, url, page); !s) {
    return std::move(s).err();
  }
  auto marker = maybe_decode(text(*root, "NextMarker"), url, "NextMarker");
  if (!marker) {
    return std::move(marker).err();
  }
  page.next_continuation_token = std::move(*marker);
  if (page.truncated && page.next_continuation_token.empty()) {
    // Without a delimiter OSS may omit NextMarker; the last key is the marker then. With one,
    // the last of keys and prefixes (they interleave in key order) is.
    std::string last = page.objects.empty() ? std::string() : page.objects.back().key;
    if (!page.common_prefixes.empty() && page.common_prefixes.back() > last) {
      last = page.common_prefixes.back();
    }
    if (last.empty()) {
      return bad_xml("truncated ListObjects page without NextMarker or entries");
    }
    page.next_continuation_token = std::move(last);
  }
  return page;
}

}  // namespace

result<list_page> parse_list_objects_v2(std::string_view xml) {
  return parse_v2(xml, nullptr);
}

result<list_page> parse_list_objects_v2_in_place(std::string& xml) {
  return parse_v2(xml, xml.data());
}

result<list_page> parse_list_objects_v1(std::string_view xml) {
  return parse_v1(xml, nullptr);
}

result<list_page> parse_list_objects_v1_in_place(std::string& xml) {
  return parse_v1(xml, xml.data());
}

result<oss_error_info> parse_error_body(std::string_view xml) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "Error");
  if (!root) {
    return std::move(root).err();
  }
  oss_error_info info;
  info.code = std::string(text(*root, "Code"));
  info.message = std::string(text(*root, "Message"));
  info.request_id = std::string(text(*root, "RequestId"));
  info.host_id = std::string(text(*root, "HostId"));
  info.key = std::string(text(*root, "Key"));
  info.ec = std::string(text(*root, "EC"));
  info.string_to_sign = std::string(text(*root, "StringToSign"));
  if (info.code.empty()) {
    return bad_xml("<Error> without <Code>");
  }
  return info;
}

result<oss_error_info> parse_error_header(std::string_view base64_value) {
  auto xml = base64_decode(base64_value);
  if (!xml) {
    return bad_xml("x-oss-err header is not valid base64");
  }
  return parse_error_body(*xml);
}

int errno_for_oss_error(int http_status, std::string_view code) {
  if (code == "NoSuchKey" || code == "NoSuchBucket" || code == "NoSuchUpload" ||
      http_status == 404) {
    return ENOENT;
  }
  if (code == "InvalidRange" || http_status == 416 || code == "InvalidArgument" ||
      code == "InvalidObjectName") {
    return EINVAL;
  }
  if (code == "PreconditionFailed" || http_status == 412) {
    return ESTALE;  // the object changed under an If-Match read
  }
  if (http_status == 503 || http_status == 429 || code.find("LimitExceeded") != code.npos ||
      code == "ServiceUnavailable") {
    return EAGAIN;
  }
  if (http_status == 403 || http_status == 401) {
    return EACCES;
  }
  if (code == "EntityTooLarge") {
    return EFBIG;
  }
  return EIO;
}

error make_oss_error(int http_status, const oss_error_info& info, std::string_view what) {
  error e;
  e.code = errno_for_oss_error(http_status, info.code);
  e.message = std::string(what);
  if (!info.message.empty()) {
    e.message += ": " + info.message;
  }
  e.request_id = info.request_id;
  e.http_status = http_status;
  e.oss_code = info.code;
  return e;
}

result<std::string> parse_initiate_multipart(std::string_view xml) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "InitiateMultipartUploadResult");
  if (!root) {
    return std::move(root).err();
  }
  std::string_view id = text(*root, "UploadId");
  if (id.empty()) {
    return bad_xml("InitiateMultipartUploadResult without UploadId");
  }
  return std::string(id);
}

namespace {

result<std::string> parse_etag_result(std::string_view xml, const char* root_name) {
  pugi::xml_document doc;
  auto root = load(doc, xml, root_name);
  if (!root) {
    return std::move(root).err();
  }
  std::string_view etag = strip_etag_quotes(text(*root, "ETag"));
  if (etag.empty()) {
    return bad_xml(std::string(root_name) + " without ETag");
  }
  return std::string(etag);
}

}  // namespace

result<std::string> parse_copy_object_result(std::string_view xml) {
  return parse_etag_result(xml, "CopyObjectResult");
}

result<std::string> parse_complete_multipart_result(std::string_view xml) {
  return parse_etag_result(xml, "CompleteMultipartUploadResult");
}

std::string build_complete_multipart(const std::vector<part_etag>& parts) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  for (const part_etag& p : parts) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text().set(p.part_number);
    part.append_child("ETag").text().set(("\"" + p.etag + "\"").c_str());
  }
  return detail::to_string(doc, false);
}

result<std::vector<part_etag>> parse_complete_multipart(std::string_view xml) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "CompleteMultipartUpload");
  if (!root) {
    return std::move(root).err();
  }
  std::vector<part_etag> parts;
  for (pugi::xml_node p : root->children("Part")) {
    auto n = parse_u64(text(p, "PartNumber"), "PartNumber");
    if (!n) {
      return std::move(n).err();
    }
    if (*n < 1 || *n > 10000) {
      return bad_xml("PartNumber out of range");
    }
    parts.push_back(
        part_etag{static_cast<unsigned>(*n), std::string(strip_etag_quotes(text(p, "ETag")))});
  }
  return parts;
}

}  // namespace ossuring::oss
