// result<T>: the hot-path error channel (errno + message + OSS request id), no exceptions.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace ossuring {

// An error as it travels from the network to the FUSE reply: `code` is a positive errno value
// chosen where the failure is understood; `message` says what failed (and on which key);
// `request_id` is the OSS x-oss-request-id when a server answered.
struct error {
  int code = EIO;
  std::string message;
  std::string request_id;
  int http_status = 0;   // 0 when no HTTP response was involved
  std::string oss_code;  // OSS <Code>, e.g. NoSuchKey, when known

  std::string describe() const;
};

inline std::string error::describe() const {
  std::string s = message;
  if (!oss_code.empty()) {
    s += " (" + oss_code + ")";
  }
  if (http_status != 0) {
    s += " http=" + std::to_string(http_status);
  }
  if (!request_id.empty()) {
    s += " request_id=" + request_id;
  }
  return s;
}

inline error make_error(int code, std::string message, std::string request_id = {}) {
  return error{code, std::move(message), std::move(request_id)};
}

template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : _v(std::in_place_index<0>, std::move(value)) {}
  result(error e) : _v(std::in_place_index<1>, std::move(e)) {}

  bool ok() const noexcept { return _v.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(_v); }
  const T& value() const& { return std::get<0>(_v); }
  T&& value() && { return std::get<0>(std::move(_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& err() const& { return std::get<1>(_v); }
  error&& err() && { return std::get<1>(std::move(_v)); }

 private:
  std::variant<T, error> _v;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : _e(std::move(e)), _failed(true) {}

  bool ok() const noexcept { return !_failed; }
  explicit operator bool() const noexcept { return ok(); }
  const error& err() const& { return _e; }
  error&& err() && { return std::move(_e); }

 private:
  error _e;
  bool _failed = false;
};

using status = result<void>;

}  // namespace ossuring
