// Parsing of OSS XML response bodies (listings, errors, multipart, copy) and building of the
// CompleteMultipartUpload request body. Untrusted input: every failure is a result error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"
#include "http/oss/object_client.hh"

namespace ossuring::oss {

// Bodies above this size are refused before parsing (a 1000-key page is a few MB at most).
inline constexpr size_t max_xml_body = 64u << 20;

// ListObjectsV2 (ListBucketResult). Keys, prefixes and tokens are URL-decoded when the response
// says <EncodingType>url</EncodingType>. request_id is left empty (it comes from a header).
// The parse works inside `xml` (a 1,000-key page is ~200 KB), which becomes the page's text:
// the listed objects' strings view it.
result<list_page> parse_list_objects_v2(std::string xml);
// ListObjects (V1). next_continuation_token carries the marker for the next page: NextMarker, or
// when a truncated page omits it (no delimiter), the last key listed.
result<list_page> parse_list_objects_v1(std::string xml);

// The parts of an <Error> body.
struct oss_error_info {
  std::string code;
  std::string message;
  std::string request_id;
  std::string host_id;
  std::string key;
  std::string ec;
  std::string string_to_sign;  // SignatureDoesNotMatch: the server's StringToSign
};
result<oss_error_info> parse_error_body(std::string_view xml);
// The `x-oss-err` header of a bodiless (HEAD) error response: base64 of the same XML.
result<oss_error_info> parse_error_header(std::string_view base64_value);
// The one mapping from an OSS error to the errno a file-system call answers (fs/errors.hh adds
// transport failures): ENOENT for NoSuchKey/NoSuchBucket/NoSuchUpload/404, EACCES for
// 401/403 and the credential codes, ESTALE for PreconditionFailed/412, EINVAL for a name or
// argument OSS refuses, EFBIG for EntityTooLarge, else EIO: throttling (429, 503) and timeouts
// after the client's retries and InvalidRange (416) included, never EAGAIN.
int errno_for_oss_error(int http_status, std::string_view code);
// A result error carrying errno, message, status, code and request id.
error make_oss_error(int http_status, const oss_error_info& info, std::string_view what);

// InitiateMultipartUploadResult -> UploadId.
result<std::string> parse_initiate_multipart(std::string_view xml);
// CopyObjectResult -> ETag (quotes stripped).
result<std::string> parse_copy_object_result(std::string_view xml);
// CopyPartResult (UploadPartCopy) -> ETag (quotes stripped).
result<std::string> parse_copy_part_result(std::string_view xml);
// CompleteMultipartUploadResult -> ETag (quotes stripped).
result<std::string> parse_complete_multipart_result(std::string_view xml);

// <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"..."</ETag></Part>...
std::string build_complete_multipart(const std::vector<part_etag>& parts);
// Server side (emulator): the parts listed in a CompleteMultipartUpload body, ETags unquoted.
result<std::vector<part_etag>> parse_complete_multipart(std::string_view xml);

// "\"abc\"" -> "abc"; other values unchanged.
std::string_view strip_etag_quotes(std::string_view etag);

}  // namespace ossuring::oss
