// Internal: the per-request state shared by the handler's translation units.
#pragma once

#include <string>
#include <string_view>

#include "tools/emu/handler.hh"

namespace ossuring::emu {

struct handler::context {
  const http::request& req;
  oss::query_params query;  // decoded
  std::string bucket;
  std::string key;              // decoded
  bool virtual_hosted = false;  // the bucket came from the Host, not the path
  store* objects = nullptr;
  std::string request_id;
  api op = api::other;
  fault_decision decision;
  int64_t now = 0;

  bool has(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) {
        return true;
      }
    }
    return false;
  }
  // Object sub-resources ossemu keeps nothing for (tags, symlinks): such a request is never
  // served as the plain object operation (a PUT ?tagging must not overwrite the object).
  bool unkept_subresource() const { return has("tagging") || has("symlink"); }
  // encoding-type=url: keys and prefixes in the answer are percent-encoded.
  bool url_encoding() const { return param("encoding-type") == "url"; }
  std::string_view param(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) {
        return v;
      }
    }
    return {};
  }
};

namespace detail {
inline std::string quote_etag(std::string_view etag) {
  return "\"" + std::string(etag) + "\"";
}
}  // namespace detail

}  // namespace ossuring::emu
