// ListObjectsV2 and ListObjects (V1): one page per call, keys URL-encoded on the wire.
#include "http/oss/client.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

namespace {

void add_if(query_params& q, const char* name, const std::string& value) {
  if (!value.empty()) {
    q.emplace_back(name, value);
  }
}

unsigned clamp_max_keys(unsigned n) {
  return n == 0 || n > 1000 ? 1000 : n;
}

}  // namespace

task<result<list_page>> oss_client::list_objects_v2(const list_request& req, abort_source* abort) {
  call c;
  c.api = api_id::list_objects_v2;
  c.method = "GET";
  c.in_order = true;
  c.message_key = req.prefix;
  c.query.emplace_back("list-type", "2");
  add_if(c.query, "prefix", req.prefix);
  add_if(c.query, "delimiter", req.delimiter);
  add_if(c.query, "start-after", req.start_after);
  add_if(c.query, "continuation-token", req.continuation_token);
  c.query.emplace_back("max-keys", std::to_string(clamp_max_keys(req.max_keys)));
  c.query.emplace_back("encoding-type", "url");
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  result<list_page> page = parse_list_objects_v2(std::move(r->body));
  if (!page) {
    co_return make_check_error(c.api, req.prefix, *r, page.err().message);
  }
  page->request_id = std::string(r->headers.get("x-oss-request-id"));
  if (page->truncated && page->next_continuation_token.empty()) {
    co_return make_check_error(c.api, req.prefix, *r,
                               "truncated listing without NextContinuationToken");
  }
  co_return std::move(*page);
}

task<result<list_page>> oss_client::list_objects_v1(const list_request& req, abort_source* abort) {
  call c;
  c.api = api_id::list_objects;
  c.method = "GET";
  c.in_order = true;
  c.message_key = req.prefix;
  add_if(c.query, "prefix", req.prefix);
  add_if(c.query, "delimiter", req.delimiter);
  add_if(c.query, "marker",
         req.continuation_token.empty() ? req.start_after : req.continuation_token);
  c.query.emplace_back("max-keys", std::to_string(clamp_max_keys(req.max_keys)));
  c.query.emplace_back("encoding-type", "url");
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  result<list_page> page = parse_list_objects_v1(std::move(r->body));
  if (!page) {
    co_return make_check_error(c.api, req.prefix, *r, page.err().message);
  }
  page->request_id = std::string(r->headers.get("x-oss-request-id"));
  if (page->truncated && page->next_continuation_token.empty()) {
    co_return make_check_error(c.api, req.prefix, *r, "truncated listing without a next marker");
  }
  co_return std::move(*page);
}

}  // namespace ossuring::oss
