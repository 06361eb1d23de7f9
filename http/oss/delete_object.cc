// DeleteObject: OSS answers 204 whether or not the object existed.
#include "http/oss/client.hh"

namespace ossuring::oss {

task<status> oss_client::delete_object(std::string_view key, abort_source* abort) {
  call c;
  c.api = api_id::delete_object;
  c.method = "DELETE";
  c.key = key;
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  co_return status{};
}

}  // namespace ossuring::oss
