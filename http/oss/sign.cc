// OSS V1 and V4 signatures: canonical strings, HMACs (OpenSSL) and Authorization headers.
#include "http/oss/sign.hh"

#include <algorithm>
#include <array>
#include <optional>

#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"

namespace ossuring::oss {

namespace {

// Query parameters V1 signs (the official SDKs' list); any `x-oss-*` parameter is signed too.
constexpr std::string_view v1_subresources[] = {
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "cloudboxes",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "inventory",
    "lifecycle",
    "live",
    "location",
    "logging",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "resourceGroup",
    "response-cache-control",
    "response-content-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
};

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  return v;
}

char lower_char(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = lower_char(c);
  }
  return out;
}

void append_lower(std::string& out, std::string_view s) {
  for (char c : s) {
    out += lower_char(c);
  }
}

bool starts_with_x_oss(std::string_view lname) {
  return lname.starts_with("x-oss-");
}

// Case-insensitive "x-oss-" prefix test on a header name as sent.
bool is_x_oss_header(std::string_view name) {
  return name.size() >= 6 && http::iequals(name.substr(0, 6), "x-oss-");
}

// Orders names as their lower-case forms would sort.
bool lower_less(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    char x = lower_char(a[i]);
    char y = lower_char(b[i]);
    if (x != y) {
      return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
    }
  }
  return a.size() < b.size();
}

std::string_view header_value(const signing_input& in, std::string_view name) {
  return in.headers ? in.headers->get(name) : std::string_view();
}

// A header to sign: name as sent (lower-cased when written out) and trimmed value, both views
// into the request's header list.
struct signed_header {
  std::string_view name;
  std::string_view value;
};

// The signed headers sorted by lower-cased name; the first of duplicate headers wins. Views
// only, so signing copies no header.
template <class Wanted>
std::vector<signed_header> collect_headers(const signing_input& in, Wanted wanted) {
  std::vector<signed_header> out;
  if (in.headers == nullptr) {
    return out;
  }
  out.reserve(in.headers->size());
  for (const http::header& h : *in.headers) {
    if (wanted(std::string_view(h.name))) {
      out.push_back({h.name, trim(h.value)});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const signed_header& a, const signed_header& b) {
    return lower_less(a.name, b.name);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const signed_header& a, const signed_header& b) {
                          return http::iequals(a.name, b.name);
                        }),
            out.end());
  return out;
}

void append_headers(std::string& s, const std::vector<signed_header>& headers) {
  for (const signed_header& h : headers) {
    append_lower(s, h.name);
    s += ':';
    s += h.value;
    s += '\n';
  }
}

std::string resource_path(const signing_input& in) {
  if (in.bucket.empty()) {
    return "/";
  }
  std::string path = "/";
  path += in.bucket;
  path += '/';
  path += in.key;
  return path;
}

}  // namespace

bool v1_is_signed_subresource(std::string_view name) {
  if (name.starts_with("x-oss-")) {
    return true;
  }
  return std::find(std::begin(v1_subresources), std::end(v1_subresources), name) !=
         std::end(v1_subresources);
}

std::string v1_string_to_sign(const signing_input& in) {
  std::string s;
  s.reserve(256);
  s += in.method;
  s += '\n';
  s += trim(header_value(in, "content-md5"));
  s += '\n';
  s += trim(header_value(in, "content-type"));
  s += '\n';
  std::string_view date = header_value(in, "x-oss-date");
  if (date.empty()) {
    date = header_value(in, "date");
  }
  s += date;
  s += '\n';
  append_headers(s, collect_headers(in, is_x_oss_header));
  s += resource_path(in);
  std::vector<const std::pair<std::string, std::string>*> signed_params;
  for (const auto& p : in.query) {
    if (v1_is_signed_subresource(p.first)) {
      signed_params.push_back(&p);
    }
  }
  std::stable_sort(signed_params.begin(), signed_params.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  char sep = '?';
  for (const auto* p : signed_params) {
    s += sep;
    sep = '&';
    s += p->first;
    if (!p->second.empty()) {
      s += '=';
      s += p->second;
    }
  }
  return s;
}

namespace {

// The prepared HMAC keys of the last few secrets (V1) and derived V4 signing keys, per thread
// (each reactor is one thread, so no lock). A request then pays for one HMAC of its
// string-to-sign; the V4 key derivation (four HMACs) runs once per secret, day and region.
// Replacement is round-robin: a thread normally signs with one key, rarely with a handful.
template <class Id, class Key>
class key_cache {
 public:
  // The key whose id satisfies `matches`, else a new one (`make_id()`, `make_key()`) in place
  // of the oldest. Lookups allocate nothing.
  template <class Matches, class MakeId, class MakeKey>
  const Key& get(Matches matches, MakeId make_id, MakeKey make_key) {
    for (entry& e : _entries) {
      if (e.key && matches(e.id)) {
        return *e.key;
      }
    }
    entry& e = _entries[_next];
    _next = (_next + 1) % _entries.size();
    e.key.reset();
    e.key.emplace(make_key());
    e.id = make_id();
    return *e.key;
  }

 private:
  struct entry {
    Id id;
    std::optional<Key> key;
  };
  std::array<entry, 4> _entries;
  size_t _next = 0;
};

struct v4_key_id {
  std::string secret;
  std::string date8;
  std::string region;
};

const hmac_key<20>& v1_key(std::string_view secret) {
  thread_local key_cache<std::string, hmac_key<20>> cache;
  return cache.get([&](const std::string& id) { return id == secret; },
                   [&] { return std::string(secret); }, [&] { return hmac_key<20>(secret); });
}

const hmac_key<32>& v4_signing_key(std::string_view secret, std::string_view date8,
                                   std::string_view region) {
  thread_local key_cache<v4_key_id, hmac_key<32>> cache;
  auto matches = [&](const v4_key_id& id) {
    return id.date8 == date8 && id.region == region && id.secret == secret;
  };
  auto make_id = [&] {
    return v4_key_id{std::string(secret), std::string(date8), std::string(region)};
  };
  return cache.get(matches, make_id, [&] {
    auto as_view = [](const sha256_digest& d) {
      return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
    };
    std::string k0 = "aliyun_v4";
    k0 += secret;
    sha256_digest k_date = hmac_sha256(k0, date8);
    sha256_digest k_region = hmac_sha256(as_view(k_date), region);
    sha256_digest k_service = hmac_sha256(as_view(k_region), "oss");
    sha256_digest k_signing = hmac_sha256(as_view(k_service), "aliyun_v4_request");
    return hmac_key<32>(as_view(k_signing));
  });
}

}  // namespace

std::string v1_signature(std::string_view secret, std::string_view string_to_sign) {
  return base64_encode(v1_key(secret)(string_to_sign));
}

std::vector<std::string> v4_normalize_additional_headers(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& n : names) {
    std::string l = lower(trim(n));
    // These are signed anyway; listing them again would change nothing but the header line.
    if (l.empty() || l == "content-type" || l == "content-md5" || starts_with_x_oss(l)) {
      continue;
    }
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string v4_canonical_request(const signing_input& in,
                                 const std::vector<std::string>& additional_headers) {
  std::string s;
  s.reserve(512);
  s += in.method;
  s += '\n';
  s += uri_encode_path(resource_path(in));
  s += '\n';

  std::vector<std::pair<std::string, std::string>> q;
  q.reserve(in.query.size());
  for (const auto& [name, value] : in.query) {
    q.emplace_back(uri_encode(name), uri_encode(value));
  }
  std::sort(q.begin(), q.end());
  bool first = true;
  for (const auto& [name, value] : q) {
    if (!first) {
      s += '&';
    }
    first = false;
    s += name;
    if (!value.empty()) {
      s += '=';
      s += value;
    }
  }
  s += '\n';

  // Additional headers absent from the request are neither signed nor listed.
  std::vector<std::string> extra;
  if (!additional_headers.empty()) {
    for (const std::string& name : v4_normalize_additional_headers(additional_headers)) {
      if (in.headers != nullptr && in.headers->has(name)) {
        extra.push_back(name);
      }
    }
  }
  append_headers(s, collect_headers(in, [&](std::string_view name) {
                   return is_x_oss_header(name) || http::iequals(name, "content-type") ||
                          http::iequals(name, "content-md5") ||
                          std::any_of(extra.begin(), extra.end(),
                                      [&](const std::string& e) { return http::iequals(name, e); });
                 }));
  s += '\n';
  for (size_t i = 0; i < extra.size(); ++i) {
    if (i != 0) {
      s += ';';
    }
    s += extra[i];
  }
  s += '\n';
  std::string_view payload = header_value(in, "x-oss-content-sha256");
  s += payload.empty() ? unsigned_payload : payload;
  return s;
}

std::string v4_string_to_sign(std::string_view canonical_request, std::string_view x_oss_date,
                              std::string_view region) {
  std::string s;
  s.reserve(v4_algorithm.size() + x_oss_date.size() + region.size() + 112);
  s += v4_algorithm;
  s += '\n';
  s += x_oss_date;
  s += '\n';
  s += x_oss_date.substr(0, 8);
  s += '/';
  s += region;
  s += "/oss/aliyun_v4_request\n";
  s += hex_lower(sha256(canonical_request));
  return s;
}

std::string v4_signature(std::string_view secret, std::string_view date8, std::string_view region,
                         std::string_view string_to_sign) {
  return hex_lower(v4_signing_key(secret, date8, region)(string_to_sign));
}

void sign_request_v1(http::request& req, signing_input in, const credentials& creds, time_t now) {
  if (!req.headers.has("date")) {
    req.headers.set("Date", format_rfc1123(now));
  }
  if (!creds.security_token.empty()) {
    req.headers.set("x-oss-security-token", creds.security_token);
  }
  in.headers = &req.headers;
  std::string sts = v1_string_to_sign(in);
  std::string sig = v1_signature(creds.access_key_secret, sts);
  std::string auth;
  auth.reserve(5 + creds.access_key_id.size() + sig.size());
  auth += "OSS ";
  auth += creds.access_key_id;
  auth += ':';
  auth += sig;
  req.headers.set("Authorization", std::move(auth));
}

void sign_request_v4(http::request& req, signing_input in, const credentials& creds,
                     std::string_view region, time_t now,
                     const std::vector<std::string>& additional_headers) {
  std::string date = format_v4_date(now);
  req.headers.set("x-oss-date", date);
  req.headers.set("x-oss-content-sha256", std::string(unsigned_payload));
  if (!creds.security_token.empty()) {
    req.headers.set("x-oss-security-token", creds.security_token);
  }
  in.headers = &req.headers;
  std::vector<std::string> extra;
  if (!additional_headers.empty()) {
    for (const std::string& name : v4_normalize_additional_headers(additional_headers)) {
      if (req.headers.has(name)) {
        extra.push_back(name);
      }
    }
  }
  std::string canonical = v4_canonical_request(in, extra);
  std::string_view date8 = std::string_view(date).substr(0, 8);
  std::string sig = v4_signature(creds.access_key_secret, date8, region,
                                 v4_string_to_sign(canonical, date, region));
  std::string auth;
  auth.reserve(v4_algorithm.size() + creds.access_key_id.size() + region.size() + sig.size() + 64);
  auth += v4_algorithm;
  auth += " Credential=";
  auth += creds.access_key_id;
  auth += '/';
  auth += date8;
  auth += '/';
  auth += region;
  auth += "/oss/aliyun_v4_request,";
  if (!extra.empty()) {
    auth += "AdditionalHeaders=";
    for (size_t i = 0; i < extra.size(); ++i) {
      if (i != 0) {
        auth += ';';
      }
      auth += extra[i];
    }
    auth += ',';
  }
  auth += "Signature=";
  auth += sig;
  req.headers.set("Authorization", std::move(auth));
}

std::optional<parsed_authorization> parse_authorization(std::string_view value) {
  parsed_authorization out;
  if (value.starts_with("OSS ")) {
    std::string_view rest = trim(value.substr(4));
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
      return std::nullopt;
    }
    out.version = 1;
    out.access_key_id = std::string(rest.substr(0, colon));
    out.signature = std::string(rest.substr(colon + 1));
    return out;
  }
  if (!value.starts_with(v4_algorithm) || value.size() <= v4_algorithm.size() ||
      value[v4_algorithm.size()] != ' ') {
    return std::nullopt;
  }
  out.version = 4;
  std::string_view rest = value.substr(v4_algorithm.size() + 1);
  bool have_credential = false;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view name = item.substr(0, eq);
    std::string_view val = item.substr(eq + 1);
    if (name == "Credential") {
      // ak/yyyymmdd/region/oss/aliyun_v4_request
      std::array<std::string_view, 5> parts;
      for (size_t i = 0; i < 5; ++i) {
        size_t slash = i < 4 ? val.find('/') : val.size();
        if (slash == std::string_view::npos ||
            (i == 4 && val.find('/') != std::string_view::npos)) {
          return std::nullopt;
        }
        parts[i] = val.substr(0, slash);
        val = i < 4 ? val.substr(slash + 1) : std::string_view();
      }
      bool date_ok =
          parts[1].size() == 8 && std::all_of(parts[1].begin(), parts[1].end(),
                                              [](char c) { return c >= '0' && c <= '9'; });
      if (parts[0].empty() || !date_ok || parts[2].empty() || parts[3] != "oss" ||
          parts[4] != "aliyun_v4_request") {
        return std::nullopt;
      }
      out.access_key_id = std::string(parts[0]);
      out.date8 = std::string(parts[1]);
      out.region = std::string(parts[2]);
      have_credential = true;
    } else if (name == "AdditionalHeaders") {
      while (!val.empty()) {
        size_t semi = val.find(';');
        std::string_view h = val.substr(0, semi);
        if (h.empty()) {
          return std::nullopt;
        }
        out.additional_headers.emplace_back(h);
        val = semi == std::string_view::npos ? std::string_view() : val.substr(semi + 1);
      }
    } else if (name == "Signature") {
      bool hex = val.size() == 64 && std::all_of(val.begin(), val.end(), [](char c) {
                   return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                 });
      if (!hex) {
        return std::nullopt;
      }
      out.signature = std::string(val);
    } else {
      return std::nullopt;
    }
  }
  if (!have_credential || out.signature.empty()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace ossuring::oss
