// OSS XML bodies read with pugixml: strict about numbers, booleans and URL-encoding.
#include "http/oss/xml.hh"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <pugixml.hpp>

#include "http/oss/detail/pugi_pages.hh"
#include "http/oss/detail/pugi_string.hh"
#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"

namespace ossuring::oss {

namespace {

// Before main, so before any document exists (detail/pugi_pages.hh): every binary that parses
// OSS XML links this file.
const bool pugi_pages_installed = (detail::install_pugi_pages(), true);

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

// The listing helpers below report failure as false with the error in `err`: returning a status
// zero-fills its ~120 bytes each time, and a page calls them thousands of times.
//
// `v`, URL-decoded in place. `v` views text pugixml left inside the page's own buffer (an
// in-place parse), so writing through it is writing the page's buffer.
bool url_decode_view(std::string_view& v, const char* field, error& err) {
  if (std::none_of(v.begin(), v.end(), [](char c) { return c == '%' || c == '+'; })) {
    return true;
  }
  auto n = uri_decode_in_place(const_cast<char*>(v.data()), v.size(), true);
  if (!n) {
    err = bad_xml(std::string("bad URL-encoding in ") + field + ": " + n.err().message);
    return false;
  }
  v = v.substr(0, *n);
  return true;
}

// The text of `v` (null: empty), URL-decoded when `url` says so, into `out`.
bool decode_into(std::string& out, const char* v, bool url, const char* field, error& err) {
  std::string_view d = v != nullptr ? std::string_view(v) : std::string_view();
  if (url && !url_decode_view(d, field, err)) {
    return false;
  }
  out.assign(d);
  return true;
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

// The text of an element, as text().get() reads it (embedded pcdata, else the first pcdata or
// CDATA child) in one call into pugixml instead of three. Text nodes have an empty name, so
// walks below need no type() check either: "" matches no field.
inline const char* value_of(pugi::xml_node n) {
  return n.child_value();
}

// parse_u64 for a NUL-terminated value, without measuring it first.
bool parse_u64(const char* v, const char* field, uint64_t& out, error& err) {
  uint64_t n = 0;
  const char* p = v;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (__builtin_mul_overflow(n, 10u, &n) ||
        __builtin_add_overflow(n, static_cast<unsigned>(*p - '0'), &n)) {
      break;
    }
  }
  if (p == v || *p != '\0') {
    err = parse_u64(std::string_view(v), field).err();  // the same error as from_chars's
    return false;
  }
  out = n;
  return true;
}

// LastModified as OSS writes it, "YYYY-MM-DDTHH:MM:SS.mmmZ", with consecutive keys mostly on
// the same day: a date seen (and validated by parse_iso8601) before reuses its day number.
// Any other form, and every first sight of a date, goes through parse_iso8601 itself.
class last_modified_parser {
 public:
  result<timestamp> parse(const char* s) {
    if (same_form(s) && std::memcmp(s, _date, sizeof _date) == 0) {
      unsigned h = two(s + 11);
      unsigned mi = two(s + 14);
      unsigned sec = two(s + 17);
      if (h < 24 && mi < 60 && sec < 60) {
        unsigned ms = two(s + 20) * 10 + static_cast<unsigned>(s[22] - '0');
        return timestamp{_days * 86400 + h * 3600 + mi * 60 + sec, ms * 1000000};
      }
    }
    auto t = parse_iso8601(s);
    if (t && same_form(s)) {
      std::memcpy(_date, s, sizeof _date);
      _days = t->sec / 86400;  // Z, year >= 1970: sec >= 0
    }
    return t;
  }

 private:
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  static unsigned two(const char* p) {
    return static_cast<unsigned>(p[0] - '0') * 10 + static_cast<unsigned>(p[1] - '0');
  }
  // Checked left to right, so a shorter string stops at its NUL before anything is read past it.
  static bool same_form(const char* s) {
    return digit(s[0]) && digit(s[1]) && digit(s[2]) && digit(s[3]) && s[4] == '-' && digit(s[5]) &&
           digit(s[6]) && s[7] == '-' && digit(s[8]) && digit(s[9]) && s[10] == 'T' &&
           digit(s[11]) && digit(s[12]) && s[13] == ':' && digit(s[14]) && digit(s[15]) &&
           s[16] == ':' && digit(s[17]) && digit(s[18]) && s[19] == '.' && digit(s[20]) &&
           digit(s[21]) && digit(s[22]) && s[23] == 'Z' && s[24] == '\0';
  }

  char _date[10] = {};  // "YYYY-MM-DD" of _days; all NUL (matching nothing) until the first
  int64_t _days = 0;
};

// One <Contents>: its children are walked once (a child(name) lookup per field would rescan
// them for each). The first of duplicate fields counts, as child(name) would have it.
// The key is left as it came (parse_listing URL-decodes it), also in the LastModified error.
bool parse_contents(pugi::xml_node c, last_modified_parser& lm_parser, listed_object& info,
                    error& err) {
  const char* key = nullptr;
  const char* size = nullptr;
  const char* last_modified = nullptr;
  const char* etag = nullptr;
  const char* type = nullptr;
  const char* storage_class = nullptr;
  for (pugi::xml_node f = c.first_child(); f; f = f.next_sibling()) {
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
      *slot = value_of(f);
    }
  }
  auto view = [](const char* v) { return v != nullptr ? std::string_view(v) : std::string_view(); };
  info.key = view(key);
  if (info.key.empty()) {
    err = bad_xml("Contents without Key");
    return false;
  }
  if (!parse_u64(size != nullptr ? size : "", "Size", info.size, err)) {
    return false;
  }
  if (last_modified != nullptr && *last_modified != '\0') {
    auto t = lm_parser.parse(last_modified);
    if (!t) {
      err = bad_xml("invalid LastModified of " + std::string(info.key));
      return false;
    }
    info.mtime_sec = t->sec;
    info.mtime_nsec = t->nsec;
  }
  info.etag = strip_etag_quotes(view(etag));
  info.object_type = view(type);
  info.storage_class = view(storage_class);
  return true;
}

// A ListBucketResult (V1 or V2): Contents, CommonPrefixes, IsTruncated, and the text of
// `next_name` (NextContinuationToken or NextMarker) decoded into next_continuation_token. The
// root's children are walked once (the DOM is the largest thing a page touches), with keys kept
// as they came; EncodingType may come anywhere among them, so URL-decoding follows the walk.
// `bytes` is the body's size, from which the number of entries is guessed.
status parse_listing(pugi::xml_node root, const char* next_name, size_t bytes, list_page& page) {
  const char* truncated_text = nullptr;
  const char* encoding = nullptr;
  const char* next = nullptr;
  std::vector<const char*> prefixes;
  // An OSS entry takes 250-400 bytes on the wire: one allocation for a full page mostly, and
  // never more than OSS's 1,000 keys a page for whatever a broken server sends.
  page.objects.reserve(std::min<size_t>(bytes / 200, 1000));
  last_modified_parser lm_parser;
  error err;
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
    const char* n = c.name();
    switch (n[0]) {
      case 'C':
        if (named(n, "Contents")) {
          if (!parse_contents(c, lm_parser, page.objects.emplace_back(), err)) {
            return err;
          }
        } else if (named(n, "CommonPrefixes")) {
          prefixes.push_back(value_of(c.child("Prefix")));
        }
        break;
      case 'I':
        if (truncated_text == nullptr && named(n, "IsTruncated")) {
          truncated_text = value_of(c);
        }
        break;
      case 'E':
        if (encoding == nullptr && named(n, "EncodingType")) {
          encoding = value_of(c);
        }
        break;
      case 'N':
        if (next == nullptr && std::string_view(n) == next_name) {
          next = value_of(c);
        }
        break;
      default:
        break;
    }
  }
  auto truncated = parse_bool(truncated_text != nullptr ? truncated_text : "", "IsTruncated");
  if (!truncated) {
    return std::move(truncated).err();
  }
  page.truncated = *truncated;
  bool url = encoding != nullptr && std::string_view(encoding) == "url";
  if (url) {
    for (listed_object& o : page.objects) {
      if (!url_decode_view(o.key, "Key", err)) {
        return err;
      }
    }
  }
  page.common_prefixes.resize(prefixes.size());
  for (size_t i = 0; i < prefixes.size(); ++i) {
    if (!decode_into(page.common_prefixes[i], prefixes[i], url, "CommonPrefixes/Prefix", err)) {
      return err;
    }
  }
  if (!decode_into(page.next_continuation_token, next != nullptr ? next : "", url, next_name,
                   err)) {
    return err;
  }
  return {};
}

}  // namespace

std::string_view strip_etag_quotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

namespace {

// Parses a ListBucketResult inside `xml`, which becomes the page's text: the shared string is
// made first so that the views never see a move (a short string's bytes live in the object).
result<list_page> parse_page(std::string xml, const char* next_name) {
  auto text = std::make_shared<std::string>(std::move(xml));
  pugi::xml_document doc;
  auto root = load(doc, *text, "ListBucketResult", text->data());
  if (!root) {
    return std::move(root).err();
  }
  list_page page;
  if (status s = parse_listing(*root, next_name, text->size(), page); !s) {
    return std::move(s).err();
  }
  page.text = std::move(text);
  return page;
}

result<list_page> parse_v2(std::string xml) {
  auto page = parse_page(std::move(xml), "NextContinuationToken");
  if (!page) {
    return page;
  }
  if (page->truncated && page->next_continuation_token.empty()) {
    return bad_xml("truncated ListObjectsV2 page without NextContinuationToken");
  }
  return page;
}

result<list_page> parse_v1(std::string xml) {
  auto page = parse_page(std::move(xml), "NextMarker");
  if (page && page->truncated && page->next_continuation_token.empty()) {
    // Without a delimiter OSS may omit NextMarker; the last key is the marker then. With one,
    // the last of keys and prefixes (they interleave in key order) is.
    std::string last =
        page->objects.empty() ? std::string() : std::string(page->objects.back().key);
    if (!page->common_prefixes.empty() && page->common_prefixes.back() > last) {
      last = page->common_prefixes.back();
    }
    if (last.empty()) {
      return bad_xml("truncated ListObjects page without NextMarker or entries");
    }
    page->next_continuation_token = std::move(last);
  }
  return page;
}

}  // namespace

result<list_page> parse_list_objects_v2(std::string xml) {
  return parse_v2(std::move(xml));
}

result<list_page> parse_list_objects_v1(std::string xml) {
  return parse_v1(std::move(xml));
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
  // By OSS code first: it is more precise than the status it comes with.
  if (code == "NoSuchKey" || code == "NoSuchBucket" || code == "NoSuchUpload") {
    return ENOENT;
  }
  if (code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
      code == "InvalidObjectState" /* archived, not restored */) {
    return EACCES;
  }
  if (code == "PreconditionFailed") {
    return ESTALE;  // the object changed under an open file: never serve mixed data
  }
  if (code == "InvalidObjectName" || code == "InvalidArgument") {
    return EINVAL;  // a name or value the caller chose that OSS refuses
  }
  if (code == "EntityTooLarge") {
    return EFBIG;
  }
  if (code == "InvalidRange") {
    // The daemon computes every range from a size it holds, so the caller's arguments were
    // valid: the object shrank under the mount, or the daemon is wrong. Not EINVAL.
    return EIO;
  }
  switch (http_status) {
    case 401:
    case 403:
      return EACCES;
    case 404:
      return ENOENT;
    case 412:
      return ESTALE;
    default:
      // 408, 429 and 503 reach here only after the client's retries: EAGAIN would tell a
      // blocking read(2) or stat(2) to try again at once, which programs treat as a bug (a
      // regular file never answers it). 416 as InvalidRange above; 5xx and the rest are I/O
      // errors whose log line keeps the OSS code.
      return EIO;
  }
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

result<std::string> parse_copy_part_result(std::string_view xml) {
  return parse_etag_result(xml, "CopyPartResult");
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
