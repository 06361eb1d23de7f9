// ListBucketResult rendering without a DOM: escaping and element order as pugixml writes them
// (format_raw with the declaration), so the bytes equal oss::render_list_objects_v1/v2 (plus
// the Owner of each entry when asked for).
#include <array>
#include <charconv>

#include "http/oss/time.hh"
#include "http/oss/uri.hh"
#include "tools/emu/listing.hh"

namespace ossuring::emu {

namespace {

// pugixml's escaping of character data: & < > as entities, control characters other than tab,
// LF and CR as "&#NN;" (two decimal digits); the text ends at a NUL (it is a C string there).
// Bytes written as they are: everything but control characters, & < and >.
constexpr std::array<bool, 256> plain_bytes = [] {
  std::array<bool, 256> t{};
  for (int c = 32; c < 256; ++c) {
    t[c] = c != '&' && c != '<' && c != '>';
  }
  return t;
}();

bool plain(char ch) {
  return plain_bytes[static_cast<unsigned char>(ch)];
}

void append_escaped(std::string& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    while (run < s.size() && plain(s[run])) {
      ++run;
    }
    out.append(s.data() + i, run - i);  // the common case: the whole text in one append
    if (run == s.size()) {
      return;
    }
    char ch = s[run];
    auto c = static_cast<unsigned char>(ch);
    if (ch == '&') {
      out.append("&amp;");
    } else if (ch == '<') {
      out.append("&lt;");
    } else if (ch == '>') {
      out.append("&gt;");
    } else if (ch == '\t' || ch == '\n' || ch == '\r') {
      out.push_back(ch);
    } else if (c == 0) {
      return;
    } else {
      char esc[] = {'&', '#', static_cast<char>('0' + c / 10), static_cast<char>('0' + c % 10),
                    ';'};
      out.append(esc, sizeof(esc));
    }
    i = run + 1;
  }
}

class writer {
 public:
  writer(std::string& out, bool url_encode) : _out(out), _url_encode(url_encode) {}

  void element(std::string_view name, std::string_view text) {
    open(name);
    append_escaped(_out, text);
    close(name);
  }
  // A key, prefix, marker or token: percent-encoded under encoding-type=url.
  void encoded(std::string_view name, std::string_view text) {
    element(name, _url_encode ? std::string_view(_scratch = oss::uri_encode(text)) : text);
  }
  // Text known to need no escaping (numbers, dates, fixed words).
  void raw(std::string_view name, std::string_view text) {
    open(name);
    _out.append(text);
    close(name);
  }
  void number(std::string_view name, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    raw(name, std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  void open(std::string_view name) { _out.append("<").append(name).append(">"); }
  void close(std::string_view name) { _out.append("</").append(name).append(">"); }

 private:
  std::string& _out;
  bool _url_encode;
  std::string _scratch;
};

}  // namespace

std::string render_list_result(const list_result_head& h, const list_page& page, bool v2,
                               std::string_view owner_id) {
  // The same Owner for every entry: rendered once.
  std::string owner;
  if (!owner_id.empty()) {
    owner = "<Owner><ID>";
    append_escaped(owner, owner_id);
    owner += "</ID><DisplayName>";
    append_escaped(owner, owner_id);
    owner += "</DisplayName></Owner>";
  }
  std::string out;
  out.reserve(256 + page.contents.size() * (240 + owner.size()) + page.common_prefixes.size() * 64);
  out.append("<?xml version=\"1.0\"?>");
  writer w(out, h.url_encode);
  w.open("ListBucketResult");
  w.element("Name", h.bucket);
  w.encoded("Prefix", h.prefix);
  if (v2) {
    if (!h.start_after.empty()) {
      w.encoded("StartAfter", h.start_after);
    }
    if (!h.continuation_token.empty()) {
      w.encoded("ContinuationToken", h.continuation_token);
    }
  } else {
    w.encoded("Marker", h.marker);
  }
  w.number("MaxKeys", h.max_keys);
  w.encoded("Delimiter", h.delimiter);
  if (h.url_encode) {
    w.element("EncodingType", "url");
  }
  w.raw("IsTruncated", h.truncated ? "true" : "false");
  if (!h.next_token.empty()) {
    w.encoded(v2 ? "NextContinuationToken" : "NextMarker", h.next_token);
  }
  if (v2) {
    w.number("KeyCount", page.contents.size() + page.common_prefixes.size());
  }
  // Listed objects mostly share a few modification times: format each distinct one once.
  int64_t last_mtime = 0;
  std::string last_mtime_text;
  for (const object_entry& e : page.contents) {
    w.open("Contents");
    w.encoded("Key", e.key);
    if (last_mtime_text.empty() || e.mtime != last_mtime) {
      last_mtime = e.mtime;
      last_mtime_text = oss::format_iso8601(e.mtime);
    }
    w.raw("LastModified", last_mtime_text);
    w.open("ETag");
    out.push_back('"');
    append_escaped(out, e.etag);
    out.push_back('"');
    w.close("ETag");
    w.raw("Type", object_type_name(e.type));
    w.number("Size", e.size);
    w.raw("StorageClass", "Standard");
    out.append(owner);
    w.close("Contents");
  }
  for (const std::string& p : page.common_prefixes) {
    w.open("CommonPrefixes");
    w.encoded("Prefix", p);
    w.close("CommonPrefixes");
  }
  w.close("ListBucketResult");
  return out;
}

}  // namespace ossuring::emu
