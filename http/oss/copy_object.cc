// CopyObject: server-side copy within the bucket (objects up to 1 GB), metadata copied.
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
  // A copy can fail after the 200 status line went out: the body is then an <Error>.
  result<std::string> etag = parse_copy_object_result(r->body);
  if (!etag) {
    if (auto info = parse_error_body(r->body)) {
      if (info->request_id.empty()) {
        info->request_id = std::string(r->headers.get("x-oss-request-id"));
      }
      co_return make_oss_error(r->status, *info,
                               describe_call(c.api, dst_key) + " from " + std::string(src_key));
    }
    co_return make_check_error(c.api, dst_key, *r, etag.err().message);
  }
  put_result out;
  out.etag = std::move(*etag);
  out.request_id = std::string(r->headers.get("x-oss-request-id"));
  co_return out;
}

}  // namespace ossuring::oss
