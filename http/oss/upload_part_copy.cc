// UploadPartCopy: one byte range of an object in the bucket copied server-side into a part of a
// multipart upload (copies above CopyObject's 1 GB limit). A PUT to a part number, so retried.
#include "http/oss/client.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

task<result<part_etag>> oss_client::upload_part_copy(std::string_view key,
                                                     std::string_view upload_id,
                                                     unsigned part_number, std::string_view src_key,
                                                     std::string_view src_etag, uint64_t first,
                                                     uint64_t last, abort_source* abort) {
  call c;
  c.api = api_id::upload_part_copy;
  c.method = "PUT";
  c.key = key;
  c.query.emplace_back("partNumber", std::to_string(part_number));
  c.query.emplace_back("uploadId", std::string(upload_id));
  c.headers.add("x-oss-copy-source", "/" + config().bucket + "/" + uri_encode_path(src_key));
  c.headers.add("x-oss-copy-source-range",
                "bytes=" + std::to_string(first) + "-" + std::to_string(last));
  if (!src_etag.empty()) {
    c.headers.add("x-oss-copy-source-if-match", "\"" + std::string(src_etag) + "\"");
  }
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  result<std::string> etag = copy_answer_etag(c.api, key, src_key, *r, parse_copy_part_result);
  if (!etag) {
    co_return std::move(etag).err();
  }
  part_etag out;
  out.part_number = part_number;
  out.etag = std::move(*etag);
  co_return out;
}

}  // namespace ossuring::oss
