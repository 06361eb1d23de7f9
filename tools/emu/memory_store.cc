// The in-memory store, body sources, the layered (overlay) store and small shared helpers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <mutex>

#include "http/oss/crc64.hh"
#include "http/oss/digest.hh"
#include "tools/emu/detail/merge_cursor.hh"
#include "tools/emu/store.hh"

namespace ossuring::emu {

std::string_view object_type_name(object_type t) {
  switch (t) {
    case object_type::multipart:
      return "Multipart";
    case object_type::appendable:
      return "Appendable";
    case object_type::normal:
      break;
  }
  return "Normal";
}

namespace {

class string_source final : public body_source {
 public:
  explicit string_source(std::shared_ptr<const std::string> data) : _data(std::move(data)) {}
  uint64_t size() const override { return _data->size(); }
  size_t read(uint64_t offset, std::span<std::byte> out) const override {
    if (offset >= _data->size()) {
      return 0;
    }
    size_t n = std::min<uint64_t>(out.size(), _data->size() - offset);
    std::memcpy(out.data(), _data->data() + offset, n);
    return n;
  }

 private:
  std::shared_ptr<const std::string> _data;
};

class range_source final : public body_source {
 public:
  range_source(std::shared_ptr<body_source> inner, uint64_t offset, uint64_t length)
      : _inner(std::move(inner)), _offset(offset), _length(length) {}
  uint64_t size() const override { return _length; }
  size_t read(uint64_t offset, std::span<std::byte> out) const override {
    if (offset >= _length) {
      return 0;
    }
    size_t n = std::min<uint64_t>(out.size(), _length - offset);
    return _inner->read(_offset + offset, out.first(n));
  }

 private:
  std::shared_ptr<body_source> _inner;
  uint64_t _offset;
  uint64_t _length;
};

struct memory_record {
  object_meta meta;
  std::shared_ptr<const std::string> data;
  uint64_t crc = 0;
};

using record_map = std::map<std::string, memory_record, std::less<>>;

// Re-seeks by key on every step (under the store's lock) so concurrent writes never leave it
// holding an invalid iterator.
class memory_cursor final : public cursor {
 public:
  memory_cursor(const record_map& map, std::mutex& mu, std::string_view from, bool inclusive)
      : _map(map), _mu(mu) {
    load(from, inclusive);
  }
  bool valid() const override { return _valid; }
  const object_entry& entry() const override { return _entry; }
  void next() override { load(std::string(_entry.key), false); }

 private:
  void load(std::string_view from, bool inclusive) {
    std::lock_guard lock(_mu);
    auto it = inclusive ? _map.lower_bound(from) : _map.upper_bound(from);
    _valid = it != _map.end();
    if (_valid) {
      _entry = it->second.meta.entry;
    }
  }

  const record_map& _map;
  std::mutex& _mu;
  object_entry _entry;
  bool _valid = false;
};

class memory_store final : public store {
 public:
  std::unique_ptr<cursor> seek(std::string_view from, bool inclusive) override {
    return std::make_unique<memory_cursor>(_map, _mu, from, inclusive);
  }
  result<object_meta> head(std::string_view key) override {
    std::lock_guard lock(_mu);
    auto it = _map.find(key);
    if (it == _map.end()) {
      return make_error(ENOENT, "no such key");
    }
    return it->second.meta;
  }
  result<std::shared_ptr<body_source>> open(std::string_view key) override {
    std::lock_guard lock(_mu);
    auto it = _map.find(key);
    if (it == _map.end()) {
      return make_error(ENOENT, "no such key");
    }
    return std::shared_ptr<body_source>(std::make_shared<string_source>(it->second.data));
  }
  result<uint64_t> crc64(std::string_view key) override {
    std::lock_guard lock(_mu);
    auto it = _map.find(key);
    if (it == _map.end()) {
      return make_error(ENOENT, "no such key");
    }
    return it->second.crc;
  }
  result<object_entry> put(std::string_view key, put_input in) override {
    memory_record rec;
    rec.crc = oss::crc64(in.data);
    rec.meta.entry.key = std::string(key);
    rec.meta.entry.size = in.data.size();
    rec.meta.entry.mtime = in.mtime != 0 ? in.mtime : static_cast<int64_t>(::time(nullptr));
    rec.meta.entry.etag = in.etag.empty() ? detail::md5_etag(in.data) : std::move(in.etag);
    rec.meta.entry.type = in.type;
    rec.meta.content_type = std::move(in.content_type);
    rec.meta.user_meta = std::move(in.user_meta);
    rec.data = std::make_shared<const std::string>(std::move(in.data));
    object_entry e = rec.meta.entry;
    std::lock_guard lock(_mu);
    _map.insert_or_assign(std::string(key), std::move(rec));
    return e;
  }
  bool remove(std::string_view key) override {
    std::lock_guard lock(_mu);
    auto it = _map.find(key);
    if (it == _map.end()) {
      return false;
    }
    _map.erase(it);
    return true;
  }

 private:
  std::mutex _mu;
  record_map _map;
};

class merged_cursor final : public cursor {
 public:
  merged_cursor(std::unique_ptr<cursor> base, std::unique_ptr<cursor> top,
                std::shared_ptr<const std::set<std::string, std::less<>>> hidden)
      : _base(std::move(base)), _top(std::move(top)), _hidden(std::move(hidden)) {
    settle();
  }
  bool valid() const override { return _current != nullptr; }
  const object_entry& entry() const override { return _current->entry(); }
  void next() override {
    // Advance whichever side produced the current entry (both on a tie: top shadows base).
    if (_current == _top.get()) {
      if (_base->valid() && _base->entry().key == _top->entry().key) {
        _base->next();
      }
      _top->next();
    } else {
      _base->next();
    }
    settle();
  }

 private:
  void settle() {
    while (_base->valid() && _hidden && _hidden->contains(_base->entry().key)) {
      _base->next();
    }
    if (_top->valid() && (!_base->valid() || _top->entry().key <= _base->entry().key)) {
      _current = _top.get();
    } else if (_base->valid()) {
      _current = _base.get();
    } else {
      _current = nullptr;
    }
  }

  std::unique_ptr<cursor> _base;
  std::unique_ptr<cursor> _top;
  std::shared_ptr<const std::set<std::string, std::less<>>> _hidden;
  cursor* _current = nullptr;
};

// Writes land in `overlay`; deleting a base key records a tombstone. The tombstone set is
// copy-on-write so cursors keep a consistent snapshot.
class layered_store final : public store {
 public:
  layered_store(std::shared_ptr<store> base, std::shared_ptr<store> overlay)
      : _base(std::move(base)),
        _overlay(std::move(overlay)),
        _hidden(std::make_shared<std::set<std::string, std::less<>>>()) {}

  std::unique_ptr<cursor> seek(std::string_view from, bool inclusive) override {
    return detail::merge_cursors(_base->seek(from, inclusive), _overlay->seek(from, inclusive),
                                 hidden());
  }
  result<object_meta> head(std::string_view key) override {
    auto r = _overlay->head(key);
    if (r || is_hidden(key)) {
      return r;
    }
    return _base->head(key);
  }
  result<std::shared_ptr<body_source>> open(std::string_view key) override {
    auto r = _overlay->open(key);
    if (r || is_hidden(key)) {
      return r;
    }
    return _base->open(key);
  }
  result<uint64_t> crc64(std::string_view key) override {
    auto r = _overlay->crc64(key);
    if (r || is_hidden(key)) {
      return r;
    }
    return _base->crc64(key);
  }
  result<object_entry> put(std::string_view key, put_input in) override {
    // The overlay shadows the base key; no tombstone needed while it exists.
    auto r = _overlay->put(key, std::move(in));
    if (r && _base->head(key)) {
      hide(key);
    }
    return r;
  }
  bool remove(std::string_view key) override {
    bool removed = _overlay->remove(key);
    if (!is_hidden(key) && _base->head(key)) {
      hide(key);
      removed = true;
    }
    return removed;
  }

 private:
  std::shared_ptr<const std::set<std::string, std::less<>>> hidden() {
    std::lock_guard lock(_mu);
    return _hidden;
  }
  bool is_hidden(std::string_view key) { return hidden()->contains(key); }
  void hide(std::string_view key) {
    std::lock_guard lock(_mu);
    auto copy = std::make_shared<std::set<std::string, std::less<>>>(*_hidden);
    copy->emplace(key);
    _hidden = std::move(copy);
  }

  std::shared_ptr<store> _base;
  std::shared_ptr<store> _overlay;
  std::mutex _mu;
  std::shared_ptr<const std::set<std::string, std::less<>>> _hidden;
};

}  // namespace

namespace detail {

std::unique_ptr<cursor> merge_cursors(
    std::unique_ptr<cursor> base, std::unique_ptr<cursor> top,
    std::shared_ptr<const std::set<std::string, std::less<>>> hidden) {
  return std::make_unique<merged_cursor>(std::move(base), std::move(top), std::move(hidden));
}

std::string md5_etag(std::string_view data) {
  std::string hex = oss::hex_lower(oss::md5(data));
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 32) : c; });
  return hex;
}

}  // namespace detail

std::shared_ptr<body_source> make_string_source(std::string data) {
  return std::make_shared<string_source>(std::make_shared<const std::string>(std::move(data)));
}

std::shared_ptr<body_source> make_range_source(std::shared_ptr<body_source> inner, uint64_t offset,
                                               uint64_t length) {
  return std::make_shared<range_source>(std::move(inner), offset, length);
}

std::string read_all(const body_source& src) {
  std::string out(src.size(), '\0');
  size_t done = 0;
  while (done < out.size()) {
    size_t n = src.read(done, std::span<std::byte>(reinterpret_cast<std::byte*>(out.data()) + done,
                                                   out.size() - done));
    if (n == 0) {
      out.resize(done);
      break;
    }
    done += n;
  }
  return out;
}

std::shared_ptr<store> make_memory_store() {
  return std::make_shared<memory_store>();
}

std::shared_ptr<store> make_layered_store(std::shared_ptr<store> base,
                                          std::shared_ptr<store> overlay) {
  return std::make_shared<layered_store>(std::move(base), std::move(overlay));
}

result<uint64_t> parse_size(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
    ++i;
  }
  if (i == 0) {
    return make_error(EINVAL, "bad size '" + std::string(s) + "'");
  }
  double number = std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
  std::string_view unit = s.substr(i);
  double mult = 1;
  static constexpr std::pair<std::string_view, double> units[] = {
      {"", 1},          {"B", 1},
      {"K", 1024},      {"KB", 1000},
      {"KiB", 1024},    {"M", 1 << 20},
      {"MB", 1e6},      {"MiB", 1 << 20},
      {"G", 1 << 30},   {"GB", 1e9},
      {"GiB", 1 << 30}, {"T", 1099511627776.0},
      {"TB", 1e12},     {"TiB", 1099511627776.0}};
  bool found = false;
  for (const auto& [name, m] : units) {
    if (name == unit) {
      mult = m;
      found = true;
      break;
    }
  }
  if (!found || !std::isfinite(number)) {
    return make_error(EINVAL, "bad size unit in '" + std::string(s) + "'");
  }
  return static_cast<uint64_t>(std::llround(number * mult));
}

std::string prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) {
    s.pop_back();
  }
  if (!s.empty()) {
    s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  }
  return s;
}

}  // namespace ossuring::emu
