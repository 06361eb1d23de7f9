// Counter names and JSON rendering.
#include "tools/emu/counters.hh"

namespace ossuring::emu {

std::string_view api_name(api a) {
  static constexpr std::string_view names[] = {
      "ListObjects",
      "ListObjectsV2",
      "HeadObject",
      "GetObjectMeta",
      "GetObject",
      "PutObject",
      "InitiateMultipartUpload",
      "UploadPart",
      "UploadPartCopy",
      "CompleteMultipartUpload",
      "AbortMultipartUpload",
      "DeleteObject",
      "CopyObject",
      "DeleteMultipleObjects",
      "HeadBucket",
      "PutBucket",
      "GetBucketInfo",
      "ListBuckets",
      "Other",
  };
  static_assert(std::size(names) == static_cast<size_t>(api::count_));
  return names[static_cast<size_t>(a)];
}

std::string_view fault_kind_name(fault_kind k) {
  static constexpr std::string_view names[] = {
      "none",          "http_503",
      "http_500",      "reset_after_bytes",
      "truncate_body", "wrong_content_length",
      "stall",         "qps_limited",
  };
  static_assert(std::size(names) == static_cast<size_t>(fault_kind::count_));
  return names[static_cast<size_t>(k)];
}

uint64_t counters::total_requests() const {
  uint64_t n = 0;
  for (const auto& c : _requests) {
    n += c.load(relaxed);
  }
  return n;
}

void counters::reset() {
  for (auto& c : _requests) {
    c.store(0, relaxed);
  }
  for (auto& c : _faults) {
    c.store(0, relaxed);
  }
  _bytes_sent.store(0, relaxed);
  _bytes_received.store(0, relaxed);
  _errors.store(0, relaxed);
}

std::string counters::to_json() const {
  std::string s = "{\"requests\":{";
  for (size_t i = 0; i < _requests.size(); ++i) {
    if (i != 0) {
      s += ',';
    }
    s += '"';
    s += api_name(static_cast<api>(i));
    s += "\":" + std::to_string(_requests[i].load(relaxed));
  }
  s += "},\"total_requests\":" + std::to_string(total_requests());
  s += ",\"bytes_sent\":" + std::to_string(bytes_sent());
  s += ",\"bytes_received\":" + std::to_string(_bytes_received.load(relaxed));
  s += ",\"error_responses\":" + std::to_string(error_responses());
  s += ",\"faults\":{";
  for (size_t i = 1; i < _faults.size(); ++i) {
    if (i != 1) {
      s += ',';
    }
    s += '"';
    s += fault_kind_name(static_cast<fault_kind>(i));
    s += "\":" + std::to_string(_faults[i].load(relaxed));
  }
  s += "}}";
  return s;
}

}  // namespace ossuring::emu
