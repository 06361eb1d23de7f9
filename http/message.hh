// HTTP request and response values shared by the client, the server side of the emulator and the
// protocol drivers (HTTP/1.1 and HTTP/2). Header names are kept as received; lookups ignore case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ossuring::http {

// One header as seen through a header_list: views into the list's storage, valid until the
// list is next changed.
struct header {
  std::string_view name;
  std::string_view value;
};

// Headers in arrival order. Names and values live back to back in one string and the entries
// are offsets into it, so a response's dozen headers cost two allocations, not two each.
class header_list {
  struct entry {
    uint32_t name_at;
    uint32_t name_len;
    uint32_t value_at;
    uint32_t value_len;
  };

 public:
  class iterator {
   public:
    using value_type = header;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const header_list* list, size_t i) : _list(list), _i(i) {}
    header operator*() const { return _list->at(_i); }
    iterator& operator++() {
      ++_i;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++_i;
      return old;
    }
    bool operator==(const iterator& o) const { return _i == o._i; }

   private:
    const header_list* _list = nullptr;
    size_t _i = 0;
  };

  header_list() = default;
  header_list(std::initializer_list<header> items) {
    for (const header& h : items) {
      add(h.name, h.value);
    }
  }

  void add(std::string_view name, std::string_view value);
  // Replaces every header of that name with one value.
  void set(std::string_view name, std::string_view value) {
    remove(name);
    add(name, value);
  }
  void remove(std::string_view name);
  // Value of the first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> find(std::string_view name) const;
  std::string_view get(std::string_view name) const { return find(name).value_or(""); }
  bool has(std::string_view name) const { return find(name).has_value(); }

  header at(size_t i) const {
    const entry& e = _items[i];
    return {std::string_view(_text).substr(e.name_at, e.name_len),
            std::string_view(_text).substr(e.value_at, e.value_len)};
  }
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, _items.size()}; }
  size_t size() const { return _items.size(); }
  bool empty() const { return _items.empty(); }
  void clear() {
    _items.clear();
    _text.clear();
  }

 private:
  std::string _text;
  std::vector<entry> _items;
};

bool iequals(std::string_view a, std::string_view b);

struct request {
  std::string method;  // "GET", "HEAD", ...
  // Origin-form target as sent on the wire: percent-encoded path plus "?query".
  std::string target;
  std::string authority;  // Host header / :authority
  header_list headers;
  std::string body;  // small bodies only (XML, uploaded parts are passed by reference elsewhere)
  // HTTP/2: ask the server to send this response after the earlier in-order responses of the
  // connection instead of interleaving with them (RFC 7540 priority, an exclusive dependency on
  // the previous one). For large responses the caller processes whole and at some CPU cost
  // (listing pages): interleaved, N of them finish together at the end of the round, and the
  // burst of processing stalls reading. Servers that ignore priorities lose nothing.
  bool in_order = false;
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

inline std::optional<std::string_view> header_list::find(std::string_view name) const {
  for (const entry& e : _items) {
    if (e.name_len == name.size() &&
        iequals(std::string_view(_text).substr(e.name_at, e.name_len), name)) {
      return std::string_view(_text).substr(e.value_at, e.value_len);
    }
  }
  return std::nullopt;
}

inline void header_list::add(std::string_view name, std::string_view value) {
  if (_items.empty() && _text.empty()) {
    _items.reserve(16);
    _text.reserve(512);
  }
  // `name` or `value` may view this list's own text, which growing would move.
  auto inside = [this](std::string_view v) {
    auto p = reinterpret_cast<uintptr_t>(v.data());
    auto b = reinterpret_cast<uintptr_t>(_text.data());
    return !v.empty() && p >= b && p < b + _text.size();
  };
  if (inside(name) || inside(value)) {
    std::string copy_name(name);
    std::string copy_value(value);
    add(copy_name, copy_value);
    return;
  }
  entry e{static_cast<uint32_t>(_text.size()), static_cast<uint32_t>(name.size()), 0,
          static_cast<uint32_t>(value.size())};
  _text.append(name);
  e.value_at = static_cast<uint32_t>(_text.size());
  _text.append(value);
  _items.push_back(e);
}

inline void header_list::remove(std::string_view name) {
  // The removed text stays behind until clear(): lists are short-lived and rarely edited.
  std::erase_if(_items, [&](const entry& e) {
    return iequals(std::string_view(_text).substr(e.name_at, e.name_len), name);
  });
}

}  // namespace ossuring::http
