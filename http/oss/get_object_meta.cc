// GetObjectMeta (HEAD ?objectMeta): size, ETag, mtime and CRC-64, lighter than HeadObject.
#include "http/oss/client.hh"

namespace ossuring::oss {

task<result<object_info>> oss_client::get_object_meta(std::string_view key, abort_source* abort) {
  call c;
  c.api = api_id::get_object_meta;
  c.method = "HEAD";
  c.key = key;
  c.query.emplace_back("objectMeta", "");
  co_return co_await head_attributes(std::move(c), key, abort);
}

}  // namespace ossuring::oss
