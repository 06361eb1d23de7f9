// The emulator's request handler: one HTTP request in, one response out, independent of the
// transport. Connection drivers (HTTP/1.1 and HTTP/2) call handle() and then execute the
// response: wait `latency`, send status and headers, wait `ttfb`, stream the body from `body`
// or `stream`, and carry out `fault` (reset, truncate, stall...).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hh"
#include "http/oss/uri.hh"
#include "tools/emu/auth.hh"
#include "tools/emu/counters.hh"
#include "tools/emu/faults.hh"
#include "tools/emu/store.hh"

namespace ossuring::emu {

struct response {
  int status = 200;
  // Always includes Content-Length (for HEAD: the length a GET would have; under the
  // wrong_content_length fault: larger than the body).
  http::header_list headers;
  std::string body;                      // used when `stream` is null
  std::shared_ptr<body_source> stream;   // large or synthetic bodies, read on demand
  std::chrono::milliseconds latency{0};  // before the status line
  std::chrono::milliseconds ttfb{0};     // between the headers and the first body byte
  fault_action fault;
  api op = api::other;
  bool head = false;  // HEAD request: headers only

  // Bytes the driver sends as the body (before faults): 0 for HEAD.
  uint64_t body_size() const;
  // The whole body as a string (tests; small bodies).
  std::string body_text() const;
};

struct bucket_config {
  std::string name;
  std::shared_ptr<store> objects;
};

struct handler_config {
  std::vector<bucket_config> buckets;
  auth_config auth;
  fault_config faults;
  std::string region = "cn-hangzhou";
  uint64_t copy_limit = 1ULL << 30;  // CopyObject's largest source
  // The account owning every bucket: Owner/ID and Owner/DisplayName (equal, as on OSS) of
  // listings, ListBuckets, GetBucketInfo and ACLs. Empty: derive_owner_id() of the first key.
  std::string owner_id;
};

// OSS owner ids are numeric account ids. This one is 16 decimal digits, 10^15 + FNV-1a-64(seed)
// mod 9*10^15, so an emulator started with the same first access key id always answers the same
// owner (tests compute it too).
std::string derive_owner_id(std::string_view seed);
// The owner id an emulator with this configuration answers: cfg.owner_id, else derived from the
// first access key id (or from "" without keys).
std::string owner_id_of(const handler_config& cfg);

class handler {
 public:
  explicit handler(handler_config cfg);

  // `admin` marks requests that arrived on the admin listener (/_admin/...).
  response handle(const http::request& req, bool admin = false);

  counters& stats() { return _counters; }
  const std::string& owner_id() const { return _owner_id; }
  class faults& fault_model() {
    return _faults;
  }
  // Wall clock in seconds (Date, signatures, mtimes); tests pin it.
  void set_wall_clock(std::function<int64_t()> clock) { _wall = std::move(clock); }
  void set_steady_clock(std::function<clock_type::time_point()> clock) {
    _steady = std::move(clock);
  }

 private:
  struct context;  // one request being handled (handler.cc)
  struct upload_part {
    // Shared: CompleteMultipartUpload copies the upload (a failed one must stay intact), and
    // copying every part's bytes cost more than the rest of the request.
    std::shared_ptr<const std::string> data;
    std::string etag;
    std::string digest;  // the raw MD5 behind etag, for the multipart ETag
    uint64_t crc = 0;    // CRC-64/ECMA of the part (ListParts' HashCrc64ecma)
    int64_t mtime = 0;   // when it was uploaded (ListParts' LastModified)
  };
  struct upload {
    std::string bucket;
    std::string key;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> user_meta;
    std::map<unsigned, upload_part> parts;
    int64_t initiated = 0;  // ListMultipartUploads' Initiated
  };

  response dispatch(context& c);
  response admin(const http::request& req);
  response list_objects(context& c, bool v2);
  response get_or_head(context& c, bool meta_only);
  response put_object(context& c);
  response copy_object(context& c);
  // The object named by x-oss-copy-source (checked against x-oss-copy-source-if-match), or the
  // error response in `refusal`.
  struct copy_source {
    store* from = nullptr;
    std::string key;
    object_meta meta;
  };
  std::optional<copy_source> copy_source_of(context& c, response& refusal);
  response delete_object(context& c);
  response delete_multiple(context& c);
  response initiate_multipart(context& c);
  response upload_part_op(context& c);
  response upload_part_copy(context& c);
  // Records `data` as part `number` of the request's upload and answers as UploadPart, or as
  // UploadPartCopy when `copied`.
  response store_part(context& c, unsigned number, std::string data, bool copied);
  response complete_multipart(context& c);
  response abort_multipart(context& c);
  response list_parts(context& c);
  response list_multipart_uploads(context& c);
  // Bucket-level answers (handler_bucket.cc): ListBuckets, GetBucketInfo, GetBucketLocation,
  // GetBucketAcl, GetBucketVersioning; and GetObjectAcl.
  response list_buckets(context& c);
  response bucket_subresource(context& c);
  response get_object_acl(context& c);

  response error_response(context& c, int status, std::string_view code, std::string_view message,
                          std::string_view string_to_sign = {},
                          std::string_view canonical_request = {});
  void finish(context& c, response& r);
  const std::string& date_header(int64_t now);
  std::string new_request_id();
  std::string new_upload_id();
  store* find_bucket(std::string_view name);

  handler_config _cfg;
  std::string _owner_id;
  int64_t _created = 0;  // CreationDate of every bucket: when the handler was made
  std::map<std::string, std::shared_ptr<store>, std::less<>> _buckets;
  counters _counters;
  class faults _faults;
  std::function<int64_t()> _wall;
  std::function<clock_type::time_point()> _steady;
  std::mutex _mu;  // uploads and id sequence
  std::map<std::string, upload, std::less<>> _uploads;
  uint64_t _sequence = 0;
  int64_t _date_second = -1;  // the Date header of that second (handle() runs on one thread)
  std::string _date_text;
};

}  // namespace ossuring::emu
