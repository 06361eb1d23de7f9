// object_client: the interface the file system uses to reach OSS (real client, in-memory mock,
// fault injector). One method per OSS operation; every failure is a result error carrying errno,
// message, HTTP status, OSS code and request id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/abort.hh"
#include "core/result.hh"
#include "core/task.hh"

namespace ossuring::oss {

// Attributes of one object as a listing, HeadObject or GetObjectMeta reports them.
struct object_info {
  std::string key;  // full key, decoded
  uint64_t size = 0;
  int64_t mtime_sec = 0;  // LastModified, seconds since the epoch
  uint32_t mtime_nsec = 0;
  std::string etag;  // with the quotes stripped
  std::string storage_class;
  std::string object_type;  // Normal, Multipart, Appendable, Symlink
  std::optional<uint64_t> crc64;
  std::string content_type;
  std::map<std::string, std::string> user_meta;  // x-oss-meta-* without the prefix
  std::string request_id;
};

struct list_request {
  std::string prefix;
  std::string delimiter;  // "" for a recursive listing, "/" for one directory level
  std::string start_after;
  std::string continuation_token;
  unsigned max_keys = 1000;
};

// One object of a listing page: only what a LIST reports. The strings view `list_page::text`
// (for a parsed page, the response body decoded in place), so a page of 1,000 keys costs no
// allocation per key; they stay valid while the page, or any copy of it, lives.
struct listed_object {
  std::string_view key;  // full key, decoded
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  std::string_view etag;  // with the quotes stripped
  std::string_view storage_class;
  std::string_view object_type;
};

struct list_page {
  std::vector<listed_object> objects;
  std::vector<std::string> common_prefixes;  // decoded, each ending with the delimiter
  bool truncated = false;
  std::string next_continuation_token;
  std::string request_id;
  // What `objects` view. Shared and never modified, so a copied page views the same bytes.
  std::shared_ptr<const std::string> text;
};

// A page of `objects` (their listed fields, copied into one text), for clients that list from
// memory: the mock client, tests. Only `objects` and `text` are set.
list_page make_list_page(const std::vector<object_info>& objects);

struct get_request {
  std::string key;
  uint64_t offset = 0;
  // Bytes wanted from `offset`; nullopt reads to the end of the object (a whole-object GET
  // when offset is 0, which lets the client check the CRC-64 of the whole body).
  std::optional<uint64_t> length;
  std::string if_match;  // ETag the object must still have (unquoted); empty for none
};

struct get_result {
  size_t bytes = 0;          // bytes written into the destination buffer
  uint64_t object_size = 0;  // from Content-Range / Content-Length
  std::string etag;
  std::optional<uint64_t> crc64;
  int64_t mtime_sec = 0;
  std::string request_id;
};

struct put_result {
  std::string etag;
  std::optional<uint64_t> crc64;
  std::string request_id;
};

// Conditions of a conditional PutObject (put_object_if). OSS answers a condition that does not
// hold with 409 FileAlreadyExists (forbid_overwrite: EEXIST) or 412 PreconditionFailed
// (if_match / if_none_match: ESTALE); nothing is written then.
struct put_condition {
  bool forbid_overwrite = false;  // x-oss-forbid-overwrite: true (create only)
  std::string if_match;           // the object must still have this ETag (unquoted)
  bool if_none_match = false;     // If-None-Match: * (create only, S3 spelling)
};

struct part_etag {
  unsigned part_number = 0;
  std::string etag;
};

class object_client {
 public:
  virtual ~object_client() = default;

  virtual task<result<list_page>> list_objects_v2(const list_request& req,
                                                  abort_source* abort = nullptr) = 0;
  virtual task<result<object_info>> head_object(std::string_view key,
                                                abort_source* abort = nullptr) = 0;
  virtual task<result<object_info>> get_object_meta(std::string_view key,
                                                    abort_source* abort = nullptr) = 0;
  // Reads the requested bytes into `dest` (which must be large enough for them; a shorter
  // object fills less). The body is written straight into `dest`, never copied whole elsewhere.
  virtual task<result<get_result>> get_object(const get_request& req, std::span<std::byte> dest,
                                              abort_source* abort = nullptr) = 0;
  virtual task<result<put_result>> put_object(std::string_view key, std::span<const std::byte> data,
                                              abort_source* abort = nullptr) = 0;
  // PutObject that writes only when `cond` holds (one node of many wins a lease object).
  virtual task<result<put_result>> put_object_if(std::string_view key,
                                                 std::span<const std::byte> data,
                                                 const put_condition& cond,
                                                 abort_source* abort = nullptr) = 0;
  virtual task<status> delete_object(std::string_view key, abort_source* abort = nullptr) = 0;
  virtual task<result<put_result>> copy_object(std::string_view src_key, std::string_view dst_key,
                                               abort_source* abort = nullptr) = 0;

  virtual task<result<std::string>> initiate_multipart(std::string_view key,
                                                       abort_source* abort = nullptr) = 0;
  virtual task<result<part_etag>> upload_part(std::string_view key, std::string_view upload_id,
                                              unsigned part_number, std::span<const std::byte> data,
                                              abort_source* abort = nullptr) = 0;
  // Copies bytes [first, last] of `src_key` into part `part_number` of `key`'s upload
  // (UploadPartCopy, for copies above CopyObject's 1 GB). A non-empty `src_etag` makes the copy
  // fail with 412 PreconditionFailed (ESTALE) when the source is no longer that object.
  virtual task<result<part_etag>> upload_part_copy(std::string_view key, std::string_view upload_id,
                                                   unsigned part_number, std::string_view src_key,
                                                   std::string_view src_etag, uint64_t first,
                                                   uint64_t last,
                                                   abort_source* abort = nullptr) = 0;
  virtual task<result<put_result>> complete_multipart(std::string_view key,
                                                      std::string_view upload_id,
                                                      const std::vector<part_etag>& parts,
                                                      abort_source* abort = nullptr) = 0;
  virtual task<status> abort_multipart(std::string_view key, std::string_view upload_id,
                                       abort_source* abort = nullptr) = 0;
};

}  // namespace ossuring::oss
