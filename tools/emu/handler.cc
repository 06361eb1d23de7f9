// Request routing, addressing (virtual-hosted and path style), authentication, fault decisions,
// error answers, listings and the admin API.
#include "tools/emu/handler.hh"

#include <ctime>

#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/xml_render.hh"
#include "tools/emu/content.hh"
#include "tools/emu/detail/context.hh"
#include "tools/emu/listing.hh"

namespace ossuring::emu {

uint64_t response::body_size() const {
  if (head) {
    return 0;
  }
  return stream ? stream->size() : body.size();
}

std::string response::body_text() const {
  if (head) {
    return {};
  }
  return stream ? read_all(*stream) : body;
}

std::string derive_owner_id(std::string_view seed) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (char c : seed) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  return std::to_string(1'000'000'000'000'000ULL + h % 9'000'000'000'000'000ULL);
}

std::string owner_id_of(const handler_config& cfg) {
  if (!cfg.owner_id.empty()) {
    return cfg.owner_id;
  }
  return derive_owner_id(cfg.auth.keys.empty()
                             ? std::string_view()
                             : std::string_view(cfg.auth.keys.front().access_key_id));
}

handler::handler(handler_config cfg)
    : _cfg(std::move(cfg)),
      _owner_id(owner_id_of(_cfg)),
      _faults(_cfg.faults),
      _wall([] { return static_cast<int64_t>(::time(nullptr)); }),
      _steady([] { return clock_type::now(); }) {
  _created = _wall();
  for (const bucket_config& b : _cfg.buckets) {
    _buckets.emplace(b.name, b.objects);
  }
}

store* handler::find_bucket(std::string_view name) {
  auto it = _buckets.find(name);
  return it == _buckets.end() ? nullptr : it->second.get();
}

std::string handler::new_request_id() {
  static constexpr char hex[] = "0123456789ABCDEF";
  uint64_t seq;
  {
    std::lock_guard lock(_mu);
    seq = ++_sequence;
  }
  // 24 upper-case hex digits like OSS: 8 of time, 16 of a mixed sequence number (unique).
  uint64_t t = static_cast<uint64_t>(_wall());
  uint64_t mixed = splitmix64(seq) ^ (seq << 40);
  std::string id(24, '0');
  for (int i = 0; i < 8; ++i) {
    id[i] = hex[(t >> (28 - 4 * i)) & 0xf];
  }
  for (int i = 0; i < 16; ++i) {
    id[8 + i] = hex[(mixed >> (60 - 4 * i)) & 0xf];
  }
  return id;
}

std::string handler::new_upload_id() {
  return new_request_id() + "00000000";
}

namespace {

// OSS's EC (error detail code) where it is known; it also names the RecommendDoc page.
std::string_view error_ec(std::string_view code, api op) {
  if (code == "NoSuchKey") {
    return "0026-00000001";
  }
  if (code == "NoSuchBucket") {
    return "0015-00000101";
  }
  if (code == "SignatureDoesNotMatch") {
    return "0002-00000040";
  }
  if (code == "InvalidAccessKeyId") {
    return "0002-00000902";
  }
  if (code == "AccessDenied") {
    return "0003-00001201";  // anonymous access refused: the only AccessDenied ossemu answers
  }
  if (code == "MalformedXML") {
    return op == api::delete_multiple_objects ? "0016-00000608" : "0042-00000205";
  }
  return "0000-00000000";
}

// Host without the port; IPv6 literals keep their brackets.
std::string_view host_of(std::string_view authority) {
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    return authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1);
  }
  return authority.substr(0, authority.find(':'));
}

}  // namespace

response handler::error_response(context& c, int status, std::string_view code,
                                 std::string_view message, std::string_view string_to_sign,
                                 std::string_view canonical_request) {
  oss::oss_error_info info;
  info.code = std::string(code);
  info.message = std::string(message);
  info.request_id = c.request_id;
  info.host_id = (c.bucket.empty() ? "" : c.bucket + ".") + "oss-" + _cfg.region + ".aliyuncs.com";
  info.key = c.key;
  info.ec = std::string(error_ec(code, c.op));
  info.string_to_sign = std::string(string_to_sign);
  std::string xml = oss::render_error(info, canonical_request);
  response r;
  r.status = status;
  r.head = c.req.method == "HEAD";
  r.op = c.op;
  r.headers.add("Content-Type", "application/xml");
  r.headers.add("x-oss-ec", info.ec);
  if (r.head) {
    r.headers.add("x-oss-err", oss::base64_encode(xml));
    r.headers.add("Content-Length", "0");
  } else {
    r.body = std::move(xml);
  }
  _counters.count_error_status();
  return r;
}

const std::string& handler::date_header(int64_t now) {
  if (now != _date_second) {  // formatted once per second, not per response
    _date_second = now;
    _date_text = oss::format_rfc1123(now);
  }
  return _date_text;
}

void handler::finish(context& c, response& r) {
  r.op = c.op;
  r.head = c.req.method == "HEAD";
  // Handlers never set these three: add, not set (set scans the whole list).
  r.headers.add("Server", "ossemu");
  r.headers.add("Date", date_header(c.now));
  r.headers.add("x-oss-request-id", c.request_id);
  if (!r.headers.has("content-length")) {
    r.headers.add("Content-Length", std::to_string(r.stream ? r.stream->size() : r.body.size()));
  }
  r.latency = c.decision.latency;
  r.ttfb = c.decision.ttfb;
  _counters.add_bytes_sent(r.body_size());
}

response handler::handle(const http::request& req, bool admin_listener) {
  context c{req};
  c.request_id = new_request_id();
  c.now = _wall();
  _counters.add_bytes_received(req.body.size());
  if (admin_listener) {
    response r = admin(req);
    finish(c, r);
    return r;
  }

  std::string_view target = req.target;
  size_t qmark = target.find('?');
  std::string_view raw_path = target.substr(0, qmark);
  auto query = oss::parse_query(qmark == std::string_view::npos ? std::string_view()
                                                                : target.substr(qmark + 1));
  auto path = oss::uri_decode(raw_path);
  if (!query || !path || !path->starts_with('/')) {
    response r = error_response(c, 400, "InvalidURI", "Could not parse the request URI.");
    finish(c, r);
    return r;
  }
  c.query = std::move(*query);

  // Virtual-hosted style when the first DNS label of the host names a bucket.
  std::string_view host = host_of(req.authority.empty() ? req.headers.get("host") : req.authority);
  size_t dot = host.find('.');
  std::string_view label = host.substr(0, dot);
  if (dot != std::string_view::npos && !host.starts_with('[') && find_bucket(label)) {
    c.bucket = std::string(label);
    c.key = path->substr(1);
    c.virtual_hosted = true;
    _counters.count_addressing(true);
  } else {
    _counters.count_addressing(false);
    std::string_view rest = std::string_view(*path).substr(1);
    size_t slash = rest.find('/');
    c.bucket = std::string(rest.substr(0, slash));
    c.key = slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash + 1));
  }

  // Name the operation first: counters and fault rules see even refused requests.
  const std::string& m = req.method;
  if (c.bucket.empty()) {
    c.op = m == "GET" ? api::list_buckets : api::other;
  } else if (c.key.empty()) {
    if (m == "GET") {
      c.op = c.param("list-type") == "2" ? api::list_objects_v2
             : c.has("uploads")          ? api::list_multipart_uploads
             : (c.has("location") || c.has("bucketInfo") || c.has("acl") || c.has("versioning"))
                 ? api::get_bucket_info
                 : api::list_objects;
    } else if (m == "HEAD") {
      c.op = api::head_bucket;
    } else if (m == "PUT" && c.query.empty()) {
      c.op = api::put_bucket;
    } else if (m == "POST" && c.has("delete")) {
      c.op = api::delete_multiple_objects;
    }
  } else if (m == "GET") {
    c.op = c.has("uploadId")        ? api::list_parts
           : c.has("acl")           ? api::get_object_acl
           : c.unkept_subresource() ? api::other
                                    : api::get_object;
  } else if (m == "HEAD") {
    c.op = c.has("objectMeta") ? api::get_object_meta : api::head_object;
  } else if (m == "PUT") {
    const bool copy = req.headers.has("x-oss-copy-source") || req.headers.has("x-amz-copy-source");
    // PutObjectAcl and the unkept sub-resources are not implemented: 501, object untouched.
    c.op = c.has("uploadId") && c.has("partNumber")
               ? (copy ? api::upload_part_copy : api::upload_part)
           : (c.has("acl") || c.unkept_subresource()) ? api::other
           : copy                                     ? api::copy_object
                                                      : api::put_object;
  } else if (m == "POST") {
    c.op = c.has("uploads")    ? api::initiate_multipart_upload
           : c.has("uploadId") ? api::complete_multipart_upload
                               : api::other;
  } else if (m == "DELETE") {
    c.op = c.has("uploadId")        ? api::abort_multipart_upload
           : c.unkept_subresource() ? api::other
                                    : api::delete_object;
  }
  _counters.count_request(c.op);

  response r;
  if (!c.bucket.empty() && (c.objects = find_bucket(c.bucket)) == nullptr) {
    r = error_response(c, 404, "NoSuchBucket", "The specified bucket does not exist.");
  } else if (auto denied = verify_request(_cfg.auth, req, {c.bucket, c.key, &c.query}, c.now)) {
    r = error_response(c, denied->status, denied->code, denied->message, denied->string_to_sign,
                       denied->canonical_request);
  } else {
    c.decision = _faults.decide(c.key, _steady());
    fault_kind k = c.decision.action.kind;
    if (k != fault_kind::none) {
      _counters.count_fault(k);
    }
    if (k == fault_kind::qps_limited) {
      r = error_response(c, 503, "TotalQpsLimitExceeded", "Please reduce your request rate.");
      r.headers.add("x-oss-qos-delay-time", std::to_string(c.decision.qos_delay_ms));
    } else if (k == fault_kind::http_503) {
      r = error_response(c, 503, "ServiceUnavailable", "Please try again later (injected).");
    } else if (k == fault_kind::http_500) {
      r = error_response(c, 500, "InternalError", "We encountered an internal error (injected).");
    } else {
      r = dispatch(c);
      fault_action a = c.decision.action;
      uint64_t size = r.stream ? r.stream->size() : r.body.size();
      if ((a.kind == fault_kind::reset_after_bytes || a.kind == fault_kind::truncate_body) &&
          (a.bytes == 0 || a.bytes >= size)) {
        a.bytes = size / 2;
      }
      if (a.kind == fault_kind::wrong_content_length) {
        r.headers.set("Content-Length", std::to_string(size + a.bytes));
      }
      r.fault = a;
    }
  }
  finish(c, r);
  return r;
}

response handler::dispatch(context& c) {
  switch (c.op) {
    case api::list_objects:
      return list_objects(c, false);
    case api::list_objects_v2:
      return list_objects(c, true);
    case api::head_object:
    case api::get_object:
      return get_or_head(c, false);
    case api::get_object_meta:
      return get_or_head(c, true);
    case api::put_object:
      return put_object(c);
    case api::copy_object:
      return copy_object(c);
    case api::delete_object:
      return delete_object(c);
    case api::delete_multiple_objects:
      return delete_multiple(c);
    case api::initiate_multipart_upload:
      return initiate_multipart(c);
    case api::upload_part:
      return upload_part_op(c);
    case api::upload_part_copy:
      return upload_part_copy(c);
    case api::complete_multipart_upload:
      return complete_multipart(c);
    case api::abort_multipart_upload:
      return abort_multipart(c);
    case api::list_parts:
      return list_parts(c);
    case api::list_multipart_uploads:
      return list_multipart_uploads(c);
    case api::head_bucket:
      return response{};
    case api::put_bucket:
      // Buckets come from --bucket; "creating" one that exists succeeds (rclone, s3fs do it).
      return response{};
    case api::get_bucket_info:
      return bucket_subresource(c);
    case api::get_object_acl:
      return get_object_acl(c);
    case api::list_buckets:
      return list_buckets(c);
    default:
      break;
  }
  return error_response(c, 501, "NotImplemented", "ossemu does not implement this operation.");
}

response handler::list_objects(context& c, bool v2) {
  list_params p;
  p.prefix = std::string(c.param("prefix"));
  p.delimiter = std::string(c.param("delimiter"));
  if (c.has("max-keys")) {
    std::string_view mk = c.param("max-keys");
    size_t n = 0;
    bool ok = !mk.empty() && mk.size() <= 5;
    for (char ch : mk) {
      ok = ok && ch >= '0' && ch <= '9';
      n = n * 10 + static_cast<size_t>(ch - '0');
    }
    if (!ok || n > 1000) {
      return error_response(c, 400, "InvalidArgument", "max-keys must be between 0 and 1000.");
    }
    p.max_keys = n;
  }
  std::string_view enc = c.param("encoding-type");
  if (!enc.empty() && enc != "url") {
    return error_response(c, 400, "InvalidArgument", "encoding-type must be url.");
  }
  list_result_head out;
  out.bucket = c.bucket;
  out.prefix = p.prefix;
  out.delimiter = p.delimiter;
  out.max_keys = static_cast<unsigned>(p.max_keys);
  out.url_encode = enc == "url";
  if (v2) {
    out.start_after = std::string(c.param("start-after"));
    p.marker = out.start_after;
    if (c.has("continuation-token")) {
      out.continuation_token = std::string(c.param("continuation-token"));
      auto k = decode_continuation(out.continuation_token);
      if (!k) {
        return error_response(c, 400, "InvalidArgument", "The continuation token is invalid.");
      }
      p.marker = std::move(*k);
    }
  } else {
    out.marker = std::string(c.param("marker"));
    p.marker = out.marker;
  }
  list_page page = emu::list_objects(*c.objects, p);
  out.truncated = page.truncated;
  if (page.truncated) {
    out.next_token = v2 ? encode_continuation(page.next_marker) : page.next_marker;
  }
  // ListObjects always names each object's owner; ListObjectsV2 only with fetch-owner=true.
  std::string_view owner;
  if (!v2 || http::iequals(c.param("fetch-owner"), "true")) {
    owner = _owner_id;
  }
  response r;
  r.headers.add("Content-Type", "application/xml");
  r.body = render_list_result(out, page, v2, owner);
  return r;
}

response handler::admin(const http::request& req) {
  response r;
  r.headers.add("Content-Type", "application/json");
  std::string_view target = req.target;
  size_t qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
  auto fail = [&](int status, std::string msg) {
    r.status = status;
    std::string escaped;
    for (char ch : msg) {
      if (ch == '"' || ch == '\\') {
        escaped += '\\';
      }
      escaped += (static_cast<unsigned char>(ch) < 0x20) ? ' ' : ch;
    }
    r.body = "{\"error\":\"" + escaped + "\"}";
    return r;
  };
  if (path == "/_admin/stats" && req.method == "GET") {
    r.body = _counters.to_json();
  } else if (path == "/_admin/reset" && req.method == "POST") {
    _counters.reset();
    r.body = "{}";
  } else if (path == "/_admin/faults" && req.method == "GET") {
    r.body = fault_config_json(_faults.config());
  } else if (path == "/_admin/faults" && req.method == "DELETE") {
    fault_config fresh;
    fresh.seed = _faults.config().seed;
    _faults.configure(fresh);
    r.body = fault_config_json(fresh);
  } else if (path == "/_admin/faults" && (req.method == "PUT" || req.method == "POST")) {
    fault_config cfg = _faults.config();
    auto params = oss::parse_query(query);
    if (!params) {
      return fail(400, params.err().message);
    }
    for (const auto& [name, value] : *params) {
      if (auto s = apply_fault_setting(cfg, name, value); !s) {
        return fail(400, s.err().message);
      }
    }
    std::string_view body = req.body;
    while (!body.empty() && (body.front() == ' ' || body.front() == '\n')) {
      body.remove_prefix(1);
    }
    if (body.starts_with('{')) {
      auto parsed = parse_fault_json(body, cfg);
      if (!parsed) {
        return fail(400, parsed.err().message);
      }
      cfg = std::move(*parsed);
    } else if (!body.empty()) {
      auto form = oss::parse_query(body);
      if (!form) {
        return fail(400, form.err().message);
      }
      for (const auto& [name, value] : *form) {
        if (auto s = apply_fault_setting(cfg, name, value); !s) {
          return fail(400, s.err().message);
        }
      }
    }
    _faults.configure(cfg);
    r.body = fault_config_json(cfg);
  } else {
    return fail(404, "unknown admin path; use /_admin/stats, /_admin/reset, /_admin/faults");
  }
  return r;
}

}  // namespace ossuring::emu
