// HeadObject: every attribute of one object, from the response headers.
#include "http/oss/client.hh"

namespace ossuring::oss {

task<result<object_info>> oss_client::head_object(std::string_view key, abort_source* abort) {
  call c;
  c.api = api_id::head_object;
  c.method = "HEAD";
  c.key = key;
  co_return co_await head_attributes(std::move(c), key, abort);
}

task<result<object_info>> oss_client::head_attributes(call c, std::string_view key,
                                                      abort_source* abort) {
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  object_info info;
  info.key = std::string(key);
  parse_object_headers(r->headers, info);
  if (!r->headers.has("content-length")) {
    co_return make_check_error(c.api, key, *r, "HEAD answer without Content-Length");
  }
  co_return info;
}

}  // namespace ossuring::oss
