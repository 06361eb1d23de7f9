// Per-API request counters, bytes sent and injected faults of the emulator, rendered as JSON for
// the admin API and tests. Relaxed atomics: counters are statistics, not synchronisation.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace ossuring::emu {

enum class api : uint8_t {
  list_objects,
  list_objects_v2,
  head_object,
  get_object_meta,
  get_object,
  put_object,
  initiate_multipart_upload,
  upload_part,
  upload_part_copy,
  complete_multipart_upload,
  abort_multipart_upload,
  list_parts,
  list_multipart_uploads,
  delete_object,
  copy_object,
  delete_multiple_objects,
  head_bucket,
  put_bucket,
  get_bucket_info,  // also GetBucketLocation, GetBucketAcl, GetBucketVersioning
  get_object_acl,
  list_buckets,
  other,
  count_,
};
std::string_view api_name(api a);

enum class fault_kind : uint8_t {
  none,
  http_503,
  http_500,
  reset_after_bytes,     // close the connection after n body bytes
  truncate_body,         // send n body bytes, then finish the stream/close (length mismatch)
  wrong_content_length,  // announce a Content-Length larger than the body
  stall,                 // send headers, then stop sending for `stall_ms`
  qps_limited,           // TotalQpsLimitExceeded 503
  count_,
};
std::string_view fault_kind_name(fault_kind k);

class counters {
 public:
  void count_request(api a) { _requests[static_cast<size_t>(a)].fetch_add(1, relaxed); }
  void count_fault(fault_kind k) { _faults[static_cast<size_t>(k)].fetch_add(1, relaxed); }
  void count_error_status() { _errors.fetch_add(1, relaxed); }
  // Called by the connection driver as body bytes leave (and by handle() for string bodies).
  void add_bytes_sent(uint64_t n) { _bytes_sent.fetch_add(n, relaxed); }
  void add_bytes_received(uint64_t n) { _bytes_received.fetch_add(n, relaxed); }
  // How requests reached the emulator: tests check that a client used the addressing style,
  // protocol and TLS server name (SNI) a real endpoint needs.
  void count_addressing(bool virtual_hosted) {
    (virtual_hosted ? _virtual_hosted : _path_style).fetch_add(1, relaxed);
  }
  void count_transport(std::string_view protocol, std::string_view server_name);

  uint64_t requests(api a) const { return _requests[static_cast<size_t>(a)].load(relaxed); }
  uint64_t faults(fault_kind k) const { return _faults[static_cast<size_t>(k)].load(relaxed); }
  uint64_t total_requests() const;
  uint64_t bytes_sent() const { return _bytes_sent.load(relaxed); }
  uint64_t error_responses() const { return _errors.load(relaxed); }

  void reset();
  // {"requests":{"GetObject":3,...},"total_requests":N,"bytes_sent":N,"bytes_received":N,
  //  "error_responses":N,"faults":{"reset_after_bytes":1,...},
  //  "addressing":{"virtual_hosted":N,"path_style":N},"protocols":{"h2":N,...},
  //  "server_names":{"bucket.oss-cn-hangzhou.aliyuncs.com":N,...}} (requests, not connections)
  std::string to_json() const;

 private:
  static constexpr auto relaxed = std::memory_order_relaxed;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(api::count_)> _requests{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(fault_kind::count_)> _faults{};
  std::atomic<uint64_t> _bytes_sent{0};
  std::atomic<uint64_t> _bytes_received{0};
  std::atomic<uint64_t> _errors{0};
  std::atomic<uint64_t> _virtual_hosted{0};
  std::atomic<uint64_t> _path_style{0};
  mutable std::mutex _transport_mutex;
  std::map<std::string, uint64_t, std::less<>> _protocols;     // "h2", "http/1.1"
  std::map<std::string, uint64_t, std::less<>> _server_names;  // SNI host names seen
};

}  // namespace ossuring::emu
