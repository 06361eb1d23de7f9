// PutObject: one whole buffer (idempotent, so retried), CRC-64 of what the server stored checked
// against the bytes sent.
#include <charconv>

#include "http/oss/client.hh"
#include "http/oss/crc64.hh"
#include "http/oss/detail/upload_check.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

namespace detail {

std::optional<oss_client::failure> check_upload_crc(const oss_client& client, api_id api,
                                                    std::string_view key, const http::response& r,
                                                    uint64_t expected,
                                                    std::optional<uint64_t>& out) {
  std::string_view text = r.headers.get("x-oss-hash-crc64ecma");
  if (text.empty()) {
    return std::nullopt;
  }
  uint64_t got = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), got);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return oss_client::failure{
        client.make_check_error(api, key, r, "unparsable x-oss-hash-crc64ecma"), false};
  }
  if (got != expected) {
    // The server stored other bytes than we sent: corruption on the way; sending again is safe.
    return oss_client::failure{
        client.make_check_error(api, key, r,
                                "CRC-64 mismatch: sent bytes have " + std::to_string(expected) +
                                    ", the server stored " + std::string(text)),
        true};
  }
  out = got;
  return std::nullopt;
}

}  // namespace detail

task<result<put_result>> oss_client::put_object(std::string_view key,
                                                std::span<const std::byte> data,
                                                abort_source* abort) {
  const uint64_t crc = crc64_update(crc64_init, data);
  put_result out;
  call c;
  c.api = api_id::put_object;
  c.method = "PUT";
  c.key = key;
  c.payload = data;
  c.headers.add("Content-Type", "application/octet-stream");
  c.validate = [&](const http::response& r) {
    return detail::check_upload_crc(*this, c.api, key, r, crc, out.crc64);
  };
  result<http::response> r = co_await execute(c, abort);
  if (!r) {
    co_return std::move(r).err();
  }
  out.etag = std::string(strip_etag_quotes(r->headers.get("etag")));
  out.request_id = std::string(r->headers.get("x-oss-request-id"));
  co_return out;
}

}  // namespace ossuring::oss
