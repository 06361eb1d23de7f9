// CopyObject: server-side copy within the bucket (objects up to 1 GB), metadata copied; and
// the reading of copy answers UploadPartCopy shares.
#include "http/oss/client.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

task<result<put_result>> oss_client::copy_object(std::string_view src_key, std::string_view dst_key,
                                                 abort_source* abort) {
  call c;
  c.api = api_id::copy_object;
  c.method = "PUT";
  c.key = dst_key;
  c.headers.add("x-oss-copy-source", "/" + config().bucket + "/" + uri_encode_path(src_key));
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  result<std::string> etag =
      copy_answer_etag(c.api, dst_key, src_key, *r, parse_copy_object_result);
  if (!etag) {
    co_return std::move(etag).err();
  }
  put_result out;
  out.etag = std::move(*etag);
  out.request_id = std::string(r->headers.get("x-oss-request-id"));
  co_return out;
}

result<std::string> oss_client::copy_answer_etag(
    api_id api, std::string_view key, std::string_view src_key, const http::response& r,
    result<std::string> (*parse)(std::string_view)) const {
  result<std::string> etag = parse(r.body);
  if (etag) {
    return etag;
  }
  if (auto info = parse_error_body(r.body)) {
    if (info->request_id.empty()) {
      info->request_id = std::string(r.headers.get("x-oss-request-id"));
    }
    return make_oss_error(r.status, *info,
                          describe_call(api, key) + " from " + std::string(src_key));
  }
  return make_check_error(api, key, r, etag.err().message);
}

}  // namespace ossuring::oss
