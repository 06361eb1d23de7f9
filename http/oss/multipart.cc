// Multipart upload: initiate and complete (POST: never retried), upload part (a whole buffer,
// CRC-64 checked, retried) and abort.
#include <charconv>

#include "http/oss/client.hh"
#include "http/oss/crc64.hh"
#include "http/oss/detail/upload_check.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

task<result<std::string>> oss_client::initiate_multipart(std::string_view key,
                                                         abort_source* abort) {
  call c;
  c.api = api_id::initiate_multipart;
  c.method = "POST";
  c.key = key;
  c.query.emplace_back("uploads", "");
  c.headers.add("Content-Type", "application/octet-stream");
  c.idempotent = false;
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  result<std::string> id = parse_initiate_multipart(r->body);
  if (!id) {
    co_return make_check_error(c.api, key, *r, id.err().message);
  }
  co_return std::move(*id);
}

task<result<part_etag>> oss_client::upload_part(std::string_view key, std::string_view upload_id,
                                                unsigned part_number,
                                                std::span<const std::byte> data,
                                                abort_source* abort) {
  const uint64_t crc = crc64_update(crc64_init, data);
  std::optional<uint64_t> crc_seen;
  call c;
  c.api = api_id::upload_part;
  c.method = "PUT";
  c.key = key;
  c.query.emplace_back("partNumber", std::to_string(part_number));
  c.query.emplace_back("uploadId", std::string(upload_id));
  c.payload = data;
  c.validate = [&](const http::response& r) {
    return detail::check_upload_crc(*this, c.api, key, r, crc, crc_seen);
  };
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  part_etag out;
  out.part_number = part_number;
  out.etag = std::string(strip_etag_quotes(r->headers.get("etag")));
  if (out.etag.empty()) {
    co_return make_check_error(c.api, key, *r, "UploadPart answer without ETag");
  }
  co_return out;
}

task<result<put_result>> oss_client::complete_multipart(std::string_view key,
                                                        std::string_view upload_id,
                                                        const std::vector<part_etag>& parts,
                                                        abort_source* abort) {
  call c;
  c.api = api_id::complete_multipart;
  c.method = "POST";
  c.key = key;
  c.query.emplace_back("uploadId", std::string(upload_id));
  c.headers.add("Content-Type", "application/xml");
  c.body = build_complete_multipart(parts);
  c.idempotent = false;
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  result<std::string> etag = parse_complete_multipart_result(r->body);
  if (!etag) {
    co_return make_check_error(c.api, key, *r, etag.err().message);
  }
  put_result out;
  out.etag = std::move(*etag);
  out.request_id = std::string(r->headers.get("x-oss-request-id"));
  uint64_t n = 0;
  std::string_view text = r->headers.get("x-oss-hash-crc64ecma");
  if (!text.empty() &&
      std::from_chars(text.data(), text.data() + text.size(), n).ec == std::errc()) {
    out.crc64 = n;
  }
  co_return out;
}

task<status> oss_client::abort_multipart(std::string_view key, std::string_view upload_id,
                                         abort_source* abort) {
  call c;
  c.api = api_id::abort_multipart;
  c.method = "DELETE";
  c.key = key;
  c.query.emplace_back("uploadId", std::string(upload_id));
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  co_return status{};
}

}  // namespace ossuring::oss
