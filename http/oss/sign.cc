// OSS V1 and V4 signatures: canonical strings, HMACs (OpenSSL) and Authorization headers.
#include "http/oss/sign.hh"

#include <algorithm>
#include <array>

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

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool starts_with_x_oss(std::string_view lname) {
  return lname.starts_with("x-oss-");
}

std::string_view header_value(const signing_input& in, std::string_view name) {
  return in.headers ? in.headers->get(name) : std::string_view();
}

// Lower-cased name -> trimmed value, sorted by name; the first of duplicate headers wins.
std::vector<std::pair<std::string, std::string>> collect_headers(
    const signing_input& in, const std::vector<std::string>& extra) {
  std::vector<std::pair<std::string, std::string>> out;
  if (in.headers == nullptr) {
    return out;
  }
  for (const http::header& h : *in.headers) {
    std::string name = lower(h.name);
    bool wanted =
        starts_with_x_oss(name) || std::find(extra.begin(), extra.end(), name) != extra.end();
    bool seen = std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == name; });
    if (wanted && !seen) {
      out.emplace_back(std::move(name), std::string(trim(h.value)));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
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
  for (const auto& [name, value] : collect_headers(in, {})) {
    s += name;
    s += ':';
    s += value;
    s += '\n';
  }
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

std::string v1_signature(std::string_view secret, std::string_view string_to_sign) {
  return base64_encode(hmac_sha1(secret, string_to_sign));
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
  for (const std::string& name : v4_normalize_additional_headers(additional_headers)) {
    if (in.headers != nullptr && in.headers->has(name)) {
      extra.push_back(name);
    }
  }
  std::vector<std::string> signed_names = extra;
  signed_names.push_back("content-type");
  signed_names.push_back("content-md5");
  for (const auto& [name, value] : collect_headers(in, signed_names)) {
    s += name;
    s += ':';
    s += value;
    s += '\n';
  }
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
  auto as_view = [](const sha256_digest& d) {
    return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
  };
  std::string k0 = "aliyun_v4";
  k0 += secret;
  sha256_digest k_date = hmac_sha256(k0, date8);
  sha256_digest k_region = hmac_sha256(as_view(k_date), region);
  sha256_digest k_service = hmac_sha256(as_view(k_region), "oss");
  sha256_digest k_signing = hmac_sha256(as_view(k_service), "aliyun_v4_request");
  return hex_lower(hmac_sha256(as_view(k_signing), string_to_sign));
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
  req.headers.set("Authorization",
                  "OSS " + creds.access_key_id + ":" + v1_signature(creds.access_key_secret, sts));
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
  for (const std::string& name : v4_normalize_additional_headers(additional_headers)) {
    if (req.headers.has(name)) {
      extra.push_back(name);
    }
  }
  std::string canonical = v4_canonical_request(in, extra);
  std::string date8 = date.substr(0, 8);
  std::string sig = v4_signature(creds.access_key_secret, date8, region,
                                 v4_string_to_sign(canonical, date, region));
  std::string auth(v4_algorithm);
  auth += " Credential=" + creds.access_key_id + "/" + date8 + "/" + std::string(region) +
          "/oss/aliyun_v4_request,";
  if (!extra.empty()) {
    auth += "AdditionalHeaders=";
    for (size_t i = 0; i < extra.size(); ++i) {
      auth += (i ? ";" : "") + extra[i];
    }
    auth += ',';
  }
  auth += "Signature=" + sig;
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
