// PutObject with conditions (x-oss-forbid-overwrite, If-Match, If-None-Match): writes only when
// they hold, so of many nodes racing for one key exactly one wins (fs/meta/shared_index.hh).
#include "http/oss/client.hh"
#include "http/oss/crc64.hh"
#include "http/oss/detail/upload_check.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

task<result<put_result>> oss_client::put_object_if(std::string_view key,
                                                   std::span<const std::byte> data,
                                                   const put_condition& cond, abort_source* abort) {
  const uint64_t crc = crc64_update(crc64_init, data);
  put_result out;
  call c;
  c.api = api_id::put_object;
  c.method = "PUT";
  c.key = key;
  c.payload = data;
  // Not retried: an attempt that wrote but lost its answer would make the retry fail its own
  // condition, and the caller would believe another node won.
  c.idempotent = false;
  c.headers.add("Content-Type", "application/octet-stream");
  if (cond.forbid_overwrite) {
    c.headers.add("x-oss-forbid-overwrite", "true");
  }
  if (!cond.if_match.empty()) {
    c.headers.add("If-Match", "\"" + cond.if_match + "\"");
  }
  if (cond.if_none_match) {
    c.headers.add("If-None-Match", "*");
  }
  c.validate = [&](const http::response& r) {
    return detail::check_upload_crc(*this, c.api, key, r, crc, out.crc64);
  };
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    error e = std::move(r).err();
    if (e.oss_code == "FileAlreadyExists" || e.http_status == 409) {
      e.code = EEXIST;  // the condition, not an I/O failure: another writer was first
    }
    co_return e;
  }
  out.etag = std::string(strip_etag_quotes(r->headers.get("etag")));
  out.request_id = std::string(r->headers.get("x-oss-request-id"));
  co_return out;
}

}  // namespace ossuring::oss
