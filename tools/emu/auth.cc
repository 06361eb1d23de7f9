// Signature verification: rebuild the string to sign with the shared signer and compare.
#include "tools/emu/auth.hh"

#include <algorithm>

#include "http/oss/time.hh"

namespace ossuring::emu {

namespace {

auth_failure fail(std::string code, std::string message) {
  auth_failure f;
  f.code = std::move(code);
  f.message = std::move(message);
  return f;
}

bool skewed(int64_t t, int64_t now, int64_t max_skew) {
  return t > now + max_skew || t < now - max_skew;
}

}  // namespace

result<int64_t> parse_v4_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') {
    return make_error(EINVAL, "bad x-oss-date");
  }
  auto num = [&](size_t pos, size_t len, int64_t& out) {
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') {
        return false;
      }
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int64_t y, mo, d, h, mi, se;
  if (!num(0, 4, y) || !num(4, 2, mo) || !num(6, 2, d) || !num(9, 2, h) || !num(11, 2, mi) ||
      !num(13, 2, se) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) {
    return make_error(EINVAL, "bad x-oss-date");
  }
  return oss::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + se;
}

std::optional<auth_failure> verify_request(const auth_config& cfg, const http::request& req,
                                           const auth_subject& subject, int64_t now) {
  std::string_view authz = req.headers.get("authorization");
  if (authz.empty()) {
    if (cfg.anonymous) {
      return std::nullopt;
    }
    return fail("AccessDenied", "You have no right to access this object because of bucket acl.");
  }
  if (cfg.anonymous && (authz.starts_with("AWS ") || authz.starts_with("AWS4-HMAC-SHA256"))) {
    return std::nullopt;
  }
  auto parsed = oss::parse_authorization(authz);
  if (!parsed) {
    auth_failure f = fail("InvalidArgument", "Authorization header is invalid.");
    f.status = 400;
    return f;
  }
  if (cfg.anonymous && cfg.keys.empty()) {
    return std::nullopt;
  }
  auto cred = std::find_if(cfg.keys.begin(), cfg.keys.end(), [&](const oss::credentials& c) {
    return c.access_key_id == parsed->access_key_id;
  });
  if (cred == cfg.keys.end()) {
    return fail("InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.");
  }
  if (!cred->security_token.empty() &&
      req.headers.get("x-oss-security-token") != cred->security_token) {
    return fail("InvalidAccessKeyId", "The security token you provided is invalid.");
  }

  oss::signing_input in;
  in.method = req.method;
  in.bucket = subject.bucket;
  in.key = subject.key;
  if (subject.query != nullptr) {
    in.query = *subject.query;
  }
  in.headers = &req.headers;

  if (parsed->version == 1) {
    std::string_view date = req.headers.get("x-oss-date");
    if (date.empty()) {
      date = req.headers.get("date");
    }
    auto t = oss::parse_rfc1123(date);
    if (!t) {
      return fail("AccessDenied", "OSS authentication requires a valid Date.");
    }
    if (skewed(*t, now, cfg.max_skew_sec)) {
      return fail("RequestTimeTooSkewed",
                  "The difference between the request time and the current time is too large.");
    }
    std::string sts = oss::v1_string_to_sign(in);
    if (oss::v1_signature(cred->access_key_secret, sts) != parsed->signature) {
      auth_failure f = fail("SignatureDoesNotMatch",
                            "The request signature we calculated does not match the signature "
                            "you provided. Check your key and signing method.");
      f.string_to_sign = std::move(sts);
      return f;
    }
    return std::nullopt;
  }

  std::string_view date = req.headers.get("x-oss-date");
  auto t = parse_v4_date(date);
  if (!t) {
    return fail("AccessDenied", "x-oss-date is missing or invalid for OSS4-HMAC-SHA256.");
  }
  if (skewed(*t, now, cfg.max_skew_sec)) {
    return fail("RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.");
  }
  if (date.substr(0, 8) != parsed->date8) {
    return fail("AccessDenied", "Credential scope date does not match x-oss-date.");
  }
  if (req.headers.get("x-oss-content-sha256") != oss::unsigned_payload) {
    auth_failure f = fail("InvalidArgument", "x-oss-content-sha256 must be UNSIGNED-PAYLOAD.");
    f.status = 400;
    return f;
  }
  std::string canonical = oss::v4_canonical_request(in, parsed->additional_headers);
  std::string sts = oss::v4_string_to_sign(canonical, date, parsed->region);
  if (oss::v4_signature(cred->access_key_secret, parsed->date8, parsed->region, sts) !=
      parsed->signature) {
    auth_failure f = fail("SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you "
                          "provided. Check your key and signing method.");
    f.string_to_sign = std::move(sts);
    f.canonical_request = std::move(canonical);
    return f;
  }
  return std::nullopt;
}

}  // namespace ossuring::emu
