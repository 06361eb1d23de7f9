// HTTP request and response values shared by the client, the server side of the emulator and the
// protocol drivers (HTTP/1.1 and HTTP/2). Header names are kept as received; lookups ignore case.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ossuring::http {

struct header {
  std::string name;
  std::string value;
};

class header_list {
 public:
  void add(std::string name, std::string value) {
    _items.push_back({std::move(name), std::move(value)});
  }
  // Replaces every header of that name with one value.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  // First value of `name` (case-insensitive), or nullptr.
  const std::string* find(std::string_view name) const;
  std::string_view get(std::string_view name) const {
    const std::string* v = find(name);
    return v ? std::string_view(*v) : std::string_view();
  }
  bool has(std::string_view name) const { return find(name) != nullptr; }

  auto begin() const { return _items.begin(); }
  auto end() const { return _items.end(); }
  size_t size() const { return _items.size(); }
  bool empty() const { return _items.empty(); }
  void clear() { _items.clear(); }

 private:
  std::vector<header> _items;
};

bool iequals(std::string_view a, std::string_view b);

struct request {
  std::string method;  // "GET", "HEAD", ...
  // Origin-form target as sent on the wire: percent-encoded path plus "?query".
  std::string target;
  std::string authority;  // Host header / :authority
  header_list headers;
  std::string body;  // small bodies only (XML, uploaded parts are passed by reference elsewhere)
};

struct response {
  int status = 0;
  header_list headers;
  std::string body;
};

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

inline const std::string* header_list::find(std::string_view name) const {
  for (const header& h : _items) {
    if (iequals(h.name, name)) {
      return &h.value;
    }
  }
  return nullptr;
}

inline void header_list::remove(std::string_view name) {
  std::erase_if(_items, [&](const header& h) { return iequals(h.name, name); });
}

inline void header_list::set(std::string_view name, std::string value) {
  remove(name);
  _items.push_back({std::string(name), std::move(value)});
}

}  // namespace ossuring::http
