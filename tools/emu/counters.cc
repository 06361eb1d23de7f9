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
      "ListParts",
      "ListMultipartUploads",
      "DeleteObject",
      "CopyObject",
      "DeleteMultipleObjects",
      "HeadBucket",
      "PutBucket",
      "GetBucketInfo",
      "GetObjectAcl",
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
  _virtual_hosted.store(0, relaxed);
  _path_style.store(0, relaxed);
  std::lock_guard lock(_transport_mutex);
  _protocols.clear();
  _server_names.clear();
}

void counters::count_transport(std::string_view protocol, std::string_view server_name) {
  std::lock_guard lock(_transport_mutex);
  if (auto it = _protocols.find(protocol); it != _protocols.end()) {
    ++it->second;
  } else {
    _protocols.emplace(std::string(protocol), 1);
  }
  if (server_name.empty()) {
    return;
  }
  // Bounded: a hostile client must not grow the emulator without end.
  if (auto it = _server_names.find(server_name); it != _server_names.end()) {
    ++it->second;
  } else if (_server_names.size() < 64) {
    _server_names.emplace(std::string(server_name), 1);
  }
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
  s += "},\"addressing\":{\"virtual_hosted\":" + std::to_string(_virtual_hosted.load(relaxed)) +
       ",\"path_style\":" + std::to_string(_path_style.load(relaxed)) + "}";
  std::lock_guard lock(_transport_mutex);
  auto map_json = [](const std::map<std::string, uint64_t, std::less<>>& m) {
    std::string out = "{";
    for (const auto& [name, n] : m) {
      // Names come from clients: keep only what needs no JSON escaping.
      std::string safe;
      for (char ch : name) {
        safe += (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ? '?' : ch;
      }
      out += (out.size() > 1 ? ",\"" : "\"") + safe + "\":" + std::to_string(n);
    }
    return out + "}";
  };
  s += ",\"protocols\":" + map_json(_protocols);
  s += ",\"server_names\":" + map_json(_server_names) + "}";
  return s;
}

}  // namespace ossuring::emu
