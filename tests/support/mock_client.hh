// mock_client: an in-memory OSS bucket behind oss::object_client, for file-system tests.
//
// Listing follows OSS ListObjectsV2: keys in byte order, prefix, start-after, delimiter grouping
// into CommonPrefixes (each counts toward max-keys), continuation tokens. Every API call is
// counted. GETs honour If-Match and can be parked until the test releases them.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/abort.hh"
#include "http/oss/object_client.hh"

namespace ossuring::test {

class mock_client : public oss::object_client {
 public:
  struct object {
    std::string data;
    std::string etag;  // upper-case hex MD5, as OSS sends it
    int64_t mtime = 1700000000;
    std::string storage_class = "Standard";
    std::string object_type = "Normal";
    std::map<std::string, std::string> user_meta;
    bool send_crc64 = true;
    std::optional<uint64_t> crc64_override;  // a wrong CRC to send instead of the real one
  };
  struct counters {
    unsigned list = 0;
    unsigned head = 0;
    unsigned meta = 0;
    unsigned get = 0;
    unsigned put = 0;
    unsigned other = 0;
    unsigned total() const { return list + head + meta + get + put + other; }
  };

  object& put(const std::string& key, std::string data, int64_t mtime = 1700000000);
  void put_etag(const std::string& key, std::string etag) { _objects[key].etag = std::move(etag); }
  void erase(const std::string& key) { _objects.erase(key); }
  object* find(const std::string& key);
  size_t size() const { return _objects.size(); }

  counters calls;
  std::vector<oss::list_request> list_log;  // every list request, in order
  std::vector<oss::get_request> get_log;

  // While true, every GET suspends after being counted until release_parked().
  bool park_gets = false;
  bool park_puts = false;    // the same for PutObject
  bool park_copies = false;  // and for CopyObject
  size_t parked() const { return _parked.size(); }
  void release_parked();

  task<result<oss::list_page>> list_objects_v2(const oss::list_request& req,
                                               abort_source* abort = nullptr) override;
  task<result<oss::object_info>> head_object(std::string_view key,
                                             abort_source* abort = nullptr) override;
  task<result<oss::object_info>> get_object_meta(std::string_view key,
                                                 abort_source* abort = nullptr) override;
  task<result<oss::get_result>> get_object(const oss::get_request& req, std::span<std::byte> dest,
                                           abort_source* abort = nullptr) override;
  task<result<oss::put_result>> put_object(std::string_view key, std::span<const std::byte> data,
                                           abort_source* abort = nullptr) override;
  task<result<oss::put_result>> put_object_if(std::string_view key, std::span<const std::byte> data,
                                              const oss::put_condition& cond,
                                              abort_source* abort = nullptr) override;
  task<status> delete_object(std::string_view key, abort_source* abort = nullptr) override;
  task<result<oss::put_result>> copy_object(std::string_view src_key, std::string_view dst_key,
                                            abort_source* abort = nullptr) override;
  task<result<std::string>> initiate_multipart(std::string_view key,
                                               abort_source* abort = nullptr) override;
  task<result<oss::part_etag>> upload_part(std::string_view key, std::string_view upload_id,
                                           unsigned part_number, std::span<const std::byte> data,
                                           abort_source* abort = nullptr) override;
  task<result<oss::part_etag>> upload_part_copy(std::string_view key, std::string_view upload_id,
                                                unsigned part_number, std::string_view src_key,
                                                std::string_view src_etag, uint64_t first,
                                                uint64_t last,
                                                abort_source* abort = nullptr) override;
  task<result<oss::put_result>> complete_multipart(std::string_view key, std::string_view upload_id,
                                                   const std::vector<oss::part_etag>& parts,
                                                   abort_source* abort = nullptr) override;
  task<status> abort_multipart(std::string_view key, std::string_view upload_id,
                               abort_source* abort = nullptr) override;

  // Multipart uploads begun and neither completed nor aborted.
  size_t open_uploads() const { return _uploads.size(); }
  unsigned parts_uploaded = 0;
  unsigned parts_copied = 0;  // UploadPartCopy calls that copied
  // CopyObject refuses sources larger than this (OSS: 1 GB) with 400 InvalidArgument.
  uint64_t copy_limit = 1ULL << 30;
  // The error a missing key produces (NoSuchKey, 404, ENOENT), as the real client reports it.
  static error no_such_key(std::string_view key);

 private:
  oss::object_info info_of(const std::string& key, const object& o) const;
  // Suspends while parking is on; an abort (FUSE INTERRUPT in the caller) ends the wait, and the
  // awaiter then yields true.
  auto park(abort_source* abort, bool parking) {
    struct awaiter {
      mock_client* m;
      abort_source* abort;
      bool parking;
      abort_subscription sub;
      std::coroutine_handle<> h;
      bool await_ready() const noexcept { return !parking || (abort && abort->aborted()); }
      void await_suspend(std::coroutine_handle<> hh) {
        h = hh;
        m->_parked.push_back(hh);
        if (abort) {
          sub.subscribe(abort, [this] {
            std::erase(m->_parked, h);
            h.resume();
          });
        }
      }
      bool await_resume() const noexcept { return abort && abort->aborted(); }
    };
    return awaiter{this, abort, parking, {}, {}};
  }

  std::map<std::string, object> _objects;  // std::string orders bytes as unsigned: OSS order
  std::vector<std::coroutine_handle<>> _parked;
  struct upload {
    std::string key;
    std::map<unsigned, std::pair<std::string, std::string>> parts;  // number -> (etag, bytes)
  };
  std::map<std::string, upload> _uploads;  // by upload id
  uint64_t _request_seq = 0;
};

}  // namespace ossuring::test
