// fault_client: deterministic error injection in front of another object client.
#include "tests/support/fault_client.hh"

namespace ossuring::test {

error fault_client::oss_error(int http_status, std::string code, int errno_code) {
  error e = make_error(errno_code, "injected " + code, "fault-req");
  e.http_status = http_status;
  e.oss_code = std::move(code);
  return e;
}

const error* fault_client::pick(unsigned api, std::string_view key) {
  for (auto& a : _rules) {
    if (!(a.r.apis & api)) {
      continue;
    }
    if (!a.r.key_contains.empty() && key.find(a.r.key_contains) == std::string_view::npos) {
      continue;
    }
    if (a.seen++ % std::max(1u, a.r.every) == 0) {
      ++_injected;
      return &a.r.err;
    }
  }
  return nullptr;
}

task<result<oss::list_page>> fault_client::list_objects_v2(const oss::list_request& req,
                                                           abort_source* abort) {
  if (const error* e = pick(list, req.prefix)) {
    co_return *e;
  }
  co_return co_await _inner.list_objects_v2(req, abort);
}

task<result<oss::object_info>> fault_client::head_object(std::string_view key,
                                                         abort_source* abort) {
  if (const error* e = pick(head, key)) {
    co_return *e;
  }
  co_return co_await _inner.head_object(key, abort);
}

task<result<oss::object_info>> fault_client::get_object_meta(std::string_view key,
                                                             abort_source* abort) {
  if (const error* e = pick(meta, key)) {
    co_return *e;
  }
  co_return co_await _inner.get_object_meta(key, abort);
}

task<result<oss::get_result>> fault_client::get_object(const oss::get_request& req,
                                                       std::span<std::byte> dest,
                                                       abort_source* abort) {
  if (const error* e = pick(get, req.key)) {
    co_return *e;
  }
  co_return co_await _inner.get_object(req, dest, abort);
}

task<result<oss::put_result>> fault_client::put_object(std::string_view key,
                                                       std::span<const std::byte> data,
                                                       abort_source* abort) {
  if (const error* e = pick(put, key)) {
    co_return *e;
  }
  co_return co_await _inner.put_object(key, data, abort);
}

task<result<oss::put_result>> fault_client::put_object_if(std::string_view key,
                                                          std::span<const std::byte> data,
                                                          const oss::put_condition& cond,
                                                          abort_source* abort) {
  if (const error* e = pick(put, key)) {
    co_return *e;
  }
  co_return co_await _inner.put_object_if(key, data, cond, abort);
}

task<status> fault_client::delete_object(std::string_view key, abort_source* abort) {
  if (const error* e = pick(del, key)) {
    co_return *e;
  }
  co_return co_await _inner.delete_object(key, abort);
}

task<result<oss::put_result>> fault_client::copy_object(std::string_view src, std::string_view dst,
                                                        abort_source* abort) {
  co_return co_await _inner.copy_object(src, dst, abort);
}

task<result<std::string>> fault_client::initiate_multipart(std::string_view key,
                                                           abort_source* abort) {
  co_return co_await _inner.initiate_multipart(key, abort);
}

task<result<oss::part_etag>> fault_client::upload_part(std::string_view key,
                                                       std::string_view upload_id, unsigned n,
                                                       std::span<const std::byte> data,
                                                       abort_source* abort) {
  if (const error* e = pick(put, key)) {
    co_return *e;
  }
  co_return co_await _inner.upload_part(key, upload_id, n, data, abort);
}

task<result<oss::part_etag>> fault_client::upload_part_copy(
    std::string_view key, std::string_view upload_id, unsigned n, std::string_view src,
    std::string_view src_etag, uint64_t first, uint64_t last, abort_source* abort) {
  if (const error* e = pick(put, key)) {
    co_return *e;
  }
  co_return co_await _inner.upload_part_copy(key, upload_id, n, src, src_etag, first, last, abort);
}

task<result<oss::put_result>> fault_client::complete_multipart(
    std::string_view key, std::string_view upload_id, const std::vector<oss::part_etag>& parts,
    abort_source* abort) {
  co_return co_await _inner.complete_multipart(key, upload_id, parts, abort);
}

task<status> fault_client::abort_multipart(std::string_view key, std::string_view upload_id,
                                           abort_source* abort) {
  co_return co_await _inner.abort_multipart(key, upload_id, abort);
}

}  // namespace ossuring::test
