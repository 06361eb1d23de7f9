// fault_client: wraps an object_client and fails chosen calls (by API, key substring and rate)
// with an OSS-shaped error, to test that every failure reaches the caller as the right errno.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "http/oss/object_client.hh"

namespace ossuring::test {

class fault_client : public oss::object_client {
 public:
  // `all` leaves DeleteObject alone (tests of other failures need their deletes): `del` only
  // when named.
  enum api : unsigned { list = 1, head = 2, meta = 4, get = 8, put = 16, all = 0xff, del = 0x100 };
  struct rule {
    unsigned apis = all;
    std::string key_contains;  // "" matches every key (and listings by prefix)
    unsigned every = 1;        // fail one call in `every` matching calls (1 = all of them)
    error err;
  };
  // Errors shaped like the real client's.
  static error oss_error(int http_status, std::string code, int errno_code);

  explicit fault_client(oss::object_client& inner) : _inner(inner) {}
  void add(rule r) { _rules.push_back({std::move(r), 0}); }
  void clear() { _rules.clear(); }
  unsigned injected() const { return _injected; }

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

 private:
  // The error to inject for this call, if any.
  const error* pick(unsigned api, std::string_view key);

  struct armed {
    rule r;
    unsigned seen;
  };
  oss::object_client& _inner;
  std::vector<armed> _rules;
  unsigned _injected = 0;
};

}  // namespace ossuring::test
