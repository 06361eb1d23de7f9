// Rendering of OSS XML responses from structs, for the emulator: ListBucketResult (V1 and V2),
// Error, InitiateMultipartUploadResult, CopyObjectResult, CompleteMultipartUploadResult.
#pragma once

#include <string>
#include <vector>

#include "http/oss/object_client.hh"
#include "http/oss/xml.hh"

namespace ossuring::oss {

// What a ListBucketResult says besides its entries. With url_encode, every key, prefix, marker
// and token is written percent-encoded and <EncodingType>url</EncodingType> is included.
struct list_result_head {
  std::string bucket;
  std::string prefix;
  std::string delimiter;
  std::string start_after;         // V2 StartAfter
  std::string continuation_token;  // V2 ContinuationToken (as received)
  std::string marker;              // V1 Marker
  std::string next_token;          // V2 NextContinuationToken / V1 NextMarker; "" when complete
  unsigned max_keys = 1000;
  bool truncated = false;
  bool url_encode = false;
};

// One listing page as the server answers it.
struct list_render_input : list_result_head {
  std::vector<object_info> objects;  // key, size, mtime, etag (unquoted), type, storage class
  std::vector<std::string> common_prefixes;
};

std::string render_list_objects_v2(const list_render_input& in);
std::string render_list_objects_v1(const list_render_input& in);
// OSS's element order: Code, Message, RequestId, HostId, [Key], [StringToSign],
// [CanonicalRequest], [EC, RecommendDoc].
std::string render_error(const oss_error_info& info, std::string_view canonical_request = {});
std::string render_initiate_multipart(std::string_view bucket, std::string_view key,
                                      std::string_view upload_id);
std::string render_copy_object_result(std::string_view etag, int64_t mtime_sec);
std::string render_copy_part_result(std::string_view etag, int64_t mtime_sec);
std::string render_complete_multipart_result(std::string_view bucket, std::string_view key,
                                             std::string_view etag);

}  // namespace ossuring::oss
