// mock_client: in-memory object store with OSS listing semantics and per-API counters.
#include "tests/support/mock_client.hh"

#include <algorithm>
#include <cstring>

#include "http/oss/crc64.hh"
#include "http/oss/digest.hh"

namespace ossuring::test {

namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

error mock_client::no_such_key(std::string_view key) {
  error e = make_error(ENOENT, "mock: no such key " + std::string(key), "mock-req");
  e.http_status = 404;
  e.oss_code = "NoSuchKey";
  return e;
}

mock_client::object& mock_client::put(const std::string& key, std::string data, int64_t mtime) {
  object& o = _objects[key];
  o.etag = upper(oss::hex_lower(oss::md5(data)));
  o.data = std::move(data);
  o.mtime = mtime;
  return o;
}

mock_client::object* mock_client::find(const std::string& key) {
  auto it = _objects.find(key);
  return it == _objects.end() ? nullptr : &it->second;
}

void mock_client::release_parked() {
  park_gets = false;
  park_puts = false;
  park_copies = false;
  std::vector<std::coroutine_handle<>> p = std::move(_parked);
  for (auto h : p) {
    h.resume();
  }
}

oss::object_info mock_client::info_of(const std::string& key, const object& o) const {
  oss::object_info i;
  i.key = key;
  i.size = o.data.size();
  i.mtime_sec = o.mtime;
  i.etag = o.etag;
  i.storage_class = o.storage_class;
  i.object_type = o.object_type;
  i.user_meta = o.user_meta;
  if (o.send_crc64) {
    i.crc64 = o.crc64_override ? *o.crc64_override : oss::crc64(o.data);
  }
  i.request_id = "mock-" + std::to_string(_request_seq);
  return i;
}

task<result<oss::list_page>> mock_client::list_objects_v2(const oss::list_request& req,
                                                          abort_source*) {
  ++calls.list;
  ++_request_seq;
  list_log.push_back(req);
  oss::list_page page;
  std::vector<oss::object_info> listed;
  unsigned max_keys = std::clamp(req.max_keys, 1u, 1000u);
  // Tokens are "K<key>" (resume after a key) or "P<prefix>" (skip a whole common prefix).
  std::string after = req.start_after;
  std::string skip_prefix;
  if (!req.continuation_token.empty()) {
    std::string_view tok = req.continuation_token;
    after = std::string(tok.substr(1));
    if (tok[0] == 'P') {
      skip_prefix = after;
    }
  }
  auto it = after.empty() ? _objects.lower_bound(req.prefix) : _objects.upper_bound(after);
  if (it != _objects.end() && it->first < req.prefix) {
    it = _objects.lower_bound(req.prefix);
  }
  unsigned count = 0;
  std::string last_token;
  for (; it != _objects.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, req.prefix.size(), req.prefix) != 0) {
      break;
    }
    if (!skip_prefix.empty() && key.compare(0, skip_prefix.size(), skip_prefix) == 0) {
      continue;
    }
    std::string cp;
    if (!req.delimiter.empty()) {
      size_t pos = key.find(req.delimiter, req.prefix.size());
      if (pos != std::string::npos) {
        cp = key.substr(0, pos + req.delimiter.size());
      }
    }
    if (!cp.empty() && !page.common_prefixes.empty() && page.common_prefixes.back() == cp) {
      continue;
    }
    if (count == max_keys) {
      page.truncated = true;
      page.next_continuation_token = last_token;
      break;
    }
    ++count;
    if (!cp.empty()) {
      page.common_prefixes.push_back(cp);
      last_token = "P" + cp;
      skip_prefix = cp;
    } else {
      listed.push_back(info_of(key, it->second));
      last_token = "K" + key;
    }
  }
  oss::list_page objects = oss::make_list_page(listed);
  page.objects = std::move(objects.objects);
  page.text = std::move(objects.text);
  page.request_id = "mock-" + std::to_string(_request_seq);
  co_return page;
}

task<result<oss::object_info>> mock_client::head_object(std::string_view key, abort_source*) {
  ++calls.head;
  ++_request_seq;
  auto it = _objects.find(std::string(key));
  if (it == _objects.end()) {
    co_return no_such_key(key);
  }
  co_return info_of(it->first, it->second);
}

task<result<oss::object_info>> mock_client::get_object_meta(std::string_view key, abort_source*) {
  ++calls.meta;
  ++_request_seq;
  auto it = _objects.find(std::string(key));
  if (it == _objects.end()) {
    co_return no_such_key(key);
  }
  oss::object_info i = info_of(it->first, it->second);
  i.user_meta.clear();  // GetObjectMeta returns no user metadata
  i.storage_class.clear();
  co_return i;
}

task<result<oss::get_result>> mock_client::get_object(const oss::get_request& req,
                                                      std::span<std::byte> dest,
                                                      abort_source* abort) {
  ++calls.get;
  ++_request_seq;
  get_log.push_back(req);
  if (co_await park(abort, park_gets)) {
    co_return make_error(ECANCELED, "mock: GET aborted", "mock-req");
  }
  auto it = _objects.find(req.key);
  if (it == _objects.end()) {
    co_return no_such_key(req.key);
  }
  const object& o = it->second;
  if (!req.if_match.empty() && req.if_match != o.etag) {
    error e = make_error(ESTALE, "mock: precondition failed for " + req.key, "mock-req");
    e.http_status = 412;
    e.oss_code = "PreconditionFailed";
    co_return e;
  }
  if (req.offset > o.data.size() || (req.offset == o.data.size() && !o.data.empty())) {
    error e = make_error(EINVAL, "mock: invalid range", "mock-req");
    e.http_status = 416;
    e.oss_code = "InvalidRange";
    co_return e;
  }
  uint64_t avail = o.data.size() - req.offset;
  uint64_t n = req.length ? std::min<uint64_t>(*req.length, avail) : avail;
  n = std::min<uint64_t>(n, dest.size());
  std::memcpy(dest.data(), o.data.data() + req.offset, n);
  oss::get_result r;
  r.bytes = n;
  r.object_size = o.data.size();
  r.etag = o.etag;
  r.mtime_sec = o.mtime;
  if (o.send_crc64) {  // OSS sends the whole object's CRC-64 with ranged answers too
    r.crc64 = o.crc64_override ? *o.crc64_override : oss::crc64(o.data);
  }
  r.request_id = "mock-" + std::to_string(_request_seq);
  co_return r;
}

task<result<oss::put_result>> mock_client::put_object(std::string_view key,
                                                      std::span<const std::byte> data,
                                                      abort_source* abort) {
  ++calls.put;
  if (co_await park(abort, park_puts)) {
    co_return make_error(ECANCELED, "mock: PUT aborted", "mock-req");
  }
  object& o =
      put(std::string(key), std::string(reinterpret_cast<const char*>(data.data()), data.size()));
  co_return oss::put_result{o.etag, oss::crc64(o.data), "mock"};
}

task<result<oss::put_result>> mock_client::put_object_if(std::string_view key,
                                                         std::span<const std::byte> data,
                                                         const oss::put_condition& cond,
                                                         abort_source* abort) {
  const object* now = find(std::string(key));
  if ((cond.forbid_overwrite || cond.if_none_match) && now != nullptr) {
    ++calls.put;
    error e = make_error(cond.forbid_overwrite ? EEXIST : ESTALE, "mock: object exists", "mock");
    e.http_status = cond.forbid_overwrite ? 409 : 412;
    e.oss_code = cond.forbid_overwrite ? "FileAlreadyExists" : "PreconditionFailed";
    co_return e;
  }
  if (!cond.if_match.empty() && (now == nullptr || now->etag != cond.if_match)) {
    ++calls.put;
    error e = make_error(now == nullptr ? ENOENT : ESTALE, "mock: precondition failed", "mock");
    e.http_status = now == nullptr ? 404 : 412;
    co_return e;
  }
  co_return co_await put_object(key, data, abort);
}

task<status> mock_client::delete_object(std::string_view key, abort_source*) {
  ++calls.other;
  _objects.erase(std::string(key));
  co_return status{};
}

task<result<oss::put_result>> mock_client::copy_object(std::string_view src, std::string_view dst,
                                                       abort_source* abort) {
  ++calls.other;
  auto it = _objects.find(std::string(src));
  if (it == _objects.end()) {
    co_return no_such_key(src);
  }
  if (it->second.data.size() > copy_limit) {
    error e = make_error(EINVAL, "mock: CopyObject source above the copy limit", "mock-req");
    e.http_status = 400;
    e.oss_code = "InvalidArgument";
    co_return e;
  }
  // The source as it was when the request arrived; a parked copy lands later, as a slow one.
  object copy = it->second;
  const std::string to(dst);
  if (co_await park(abort, park_copies)) {
    co_return make_error(ECANCELED, "mock: copy aborted", "mock-req");
  }
  _objects[to] = copy;
  co_return oss::put_result{copy.etag, oss::crc64(copy.data), "mock"};
}

task<result<std::string>> mock_client::initiate_multipart(std::string_view key, abort_source*) {
  ++calls.other;
  std::string id = "upload-" + std::to_string(++_request_seq);
  _uploads[id] = upload{std::string(key), {}};
  co_return id;
}

task<result<oss::part_etag>> mock_client::upload_part(std::string_view key, std::string_view id,
                                                      unsigned number,
                                                      std::span<const std::byte> data,
                                                      abort_source*) {
  ++calls.other;
  auto it = _uploads.find(std::string(id));
  if (it == _uploads.end() || it->second.key != key) {
    co_return make_error(ENOENT, "mock: NoSuchUpload");
  }
  ++parts_uploaded;
  std::string bytes(reinterpret_cast<const char*>(data.data()), data.size());
  std::string etag = "P" + std::to_string(number) + "-" + std::to_string(oss::crc64(bytes));
  it->second.parts[number] = {etag, std::move(bytes)};
  co_return oss::part_etag{number, etag};
}

task<result<oss::part_etag>> mock_client::upload_part_copy(
    std::string_view key, std::string_view id, unsigned number, std::string_view src,
    std::string_view src_etag, uint64_t first, uint64_t last, abort_source*) {
  ++calls.other;
  auto it = _uploads.find(std::string(id));
  if (it == _uploads.end() || it->second.key != key) {
    co_return make_error(ENOENT, "mock: NoSuchUpload");
  }
  auto from = _objects.find(std::string(src));
  if (from == _objects.end()) {
    co_return no_such_key(src);
  }
  if (!src_etag.empty() && src_etag != from->second.etag) {
    error e = make_error(EIO, "mock: copy source changed", "mock-req");
    e.http_status = 412;
    e.oss_code = "PreconditionFailed";
    co_return e;
  }
  if (first > last || last >= from->second.data.size()) {
    co_return make_error(EINVAL, "mock: copy range outside the source");
  }
  ++parts_copied;
  std::string bytes = from->second.data.substr(first, last - first + 1);
  std::string etag = "C" + std::to_string(number) + "-" + std::to_string(oss::crc64(bytes));
  it->second.parts[number] = {etag, std::move(bytes)};
  co_return oss::part_etag{number, etag};
}

task<result<oss::put_result>> mock_client::complete_multipart(
    std::string_view key, std::string_view id, const std::vector<oss::part_etag>& parts,
    abort_source*) {
  ++calls.other;
  auto it = _uploads.find(std::string(id));
  if (it == _uploads.end() || it->second.key != key) {
    co_return make_error(ENOENT, "mock: NoSuchUpload");
  }
  // As OSS: parts listed in ascending order, each uploaded with that ETag (InvalidPart).
  std::string data;
  unsigned last = 0;
  for (const oss::part_etag& p : parts) {
    auto part = it->second.parts.find(p.part_number);
    if (p.part_number <= last || part == it->second.parts.end() || part->second.first != p.etag) {
      co_return make_error(EINVAL, "mock: InvalidPart " + std::to_string(p.part_number));
    }
    last = p.part_number;
    data += part->second.second;
  }
  _uploads.erase(it);
  object& o = put(std::string(key), std::move(data));
  o.object_type = "Multipart";
  // As OSS: not the MD5 of the bytes, so a copy in parts has an ETag of its own.
  std::string etags;
  for (const oss::part_etag& p : parts) {
    etags += p.etag;
  }
  o.etag = upper(oss::hex_lower(oss::md5(etags))) + "-" + std::to_string(parts.size());
  co_return oss::put_result{o.etag, oss::crc64(o.data), "mock"};
}

task<status> mock_client::abort_multipart(std::string_view, std::string_view id, abort_source*) {
  ++calls.other;
  if (_uploads.erase(std::string(id)) == 0) {
    co_return make_error(ENOENT, "mock: NoSuchUpload");
  }
  co_return status{};
}

}  // namespace ossuring::test
