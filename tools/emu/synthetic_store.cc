// Synthetic buckets: keys computed arithmetically in sorted order from a spec (no key is
// materialised), content from content.hh, writes and deletes kept in an in-memory overlay.
#include <charconv>
#include <mutex>
#include <unordered_map>

#include "tools/emu/content.hh"
#include "tools/emu/detail/merge_cursor.hh"
#include "tools/emu/store.hh"

namespace ossuring::emu {

namespace {

// Every synthetic object has this mtime (2023-11-14T22:13:20Z) so listings are reproducible.
constexpr int64_t synthetic_mtime = 1700000000;

int digits(uint64_t v) {
  int d = 1;
  while (v >= 10) {
    v /= 10;
    ++d;
  }
  return d;
}

void append_padded(std::string& out, uint64_t v, int width) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  for (int pad = width - static_cast<int>(end - buf); pad > 0; --pad) {
    out.push_back('0');
  }
  out.append(buf, end);
}

// A family of keys: key(i) strictly increasing in i for i < count().
class generator {
 public:
  virtual ~generator() = default;
  virtual uint64_t count() const = 0;
  virtual void key(uint64_t i, std::string& out) const = 0;
  virtual uint64_t size(uint64_t i) const = 0;

  // First index whose key is >= k (inclusive) or > k; count() when none.
  uint64_t lower_bound(std::string_view k, bool inclusive) const {
    uint64_t lo = 0;
    uint64_t hi = count();
    std::string tmp;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      tmp.clear();
      key(mid, tmp);
      bool before = inclusive ? std::string_view(tmp) < k : std::string_view(tmp) <= k;
      if (before) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
};

// train/n01440764/n01440764_10026.JPEG: D class directories of F images each.
class imagenet_generator final : public generator {
 public:
  imagenet_generator(uint64_t dirs, uint64_t files, uint64_t mean)
      : _dirs(dirs), _files(files), _mean(mean), _width(std::max(5, digits(10026 + files * 13))) {}
  uint64_t count() const override { return _dirs * _files; }
  void key(uint64_t i, std::string& out) const override {
    uint64_t wnid = 1440764 + (i / _files) * 1129;
    out += "train/n";
    append_padded(out, wnid, 8);
    out += "/n";
    append_padded(out, wnid, 8);
    out.push_back('_');
    append_padded(out, 10026 + (i % _files) * 13, _width);
    out += ".JPEG";
  }
  // Uniform in [mean/2, 3*mean/2): ImageNet-like spread around the mean.
  uint64_t size(uint64_t i) const override {
    return _mean / 2 + (_mean == 0 ? 0 : splitmix64(i ^ 0x1badb002) % _mean);
  }

 private:
  uint64_t _dirs, _files, _mean;
  int _width;
};

// file-0000042.bin: N objects of exactly SIZE bytes in one level.
class flat_generator final : public generator {
 public:
  flat_generator(uint64_t n, uint64_t size) : _n(n), _size(size), _width(digits(n ? n - 1 : 0)) {}
  uint64_t count() const override { return _n; }
  void key(uint64_t i, std::string& out) const override {
    out += "file-";
    append_padded(out, i, _width);
    out += ".bin";
  }
  uint64_t size(uint64_t) const override { return _size; }

 private:
  uint64_t _n, _size;
  int _width;
};

// d3/d7/d1/file-00042.bin: three levels of ten directories, N objects spread over the 1000 leaves.
class deep_generator final : public generator {
 public:
  deep_generator(uint64_t n, uint64_t size)
      : _n(n),
        _size(size),
        _per_leaf((n + 999) / 1000),
        _width(digits(_per_leaf ? _per_leaf : 1)) {}
  uint64_t count() const override { return _n; }
  void key(uint64_t i, std::string& out) const override {
    uint64_t leaf = i / _per_leaf;
    out.push_back('d');
    out.push_back(static_cast<char>('0' + leaf / 100));
    out += "/d";
    out.push_back(static_cast<char>('0' + leaf / 10 % 10));
    out += "/d";
    out.push_back(static_cast<char>('0' + leaf % 10));
    out += "/file-";
    append_padded(out, i % _per_leaf, _width);
    out += ".bin";
  }
  uint64_t size(uint64_t) const override { return _size; }

 private:
  uint64_t _n, _size, _per_leaf;
  int _width;
};

class single_generator final : public generator {
 public:
  single_generator(std::string key, uint64_t size) : _key(std::move(key)), _size(size) {}
  uint64_t count() const override { return 1; }
  void key(uint64_t, std::string& out) const override { out += _key; }
  uint64_t size(uint64_t) const override { return _size; }

 private:
  std::string _key;
  uint64_t _size;
};

class synthetic_source final : public body_source {
 public:
  synthetic_source(uint64_t seed, uint64_t size) : _seed(seed), _size(size) {}
  uint64_t size() const override { return _size; }
  size_t read(uint64_t offset, std::span<std::byte> out) const override {
    if (offset >= _size) {
      return 0;
    }
    size_t n = std::min<uint64_t>(out.size(), _size - offset);
    generate_content(_seed, offset, out.first(n));
    return n;
  }

 private:
  uint64_t _seed, _size;
};

object_entry make_entry(const generator& g, uint64_t i) {
  object_entry e;
  g.key(i, e.key);
  e.size = g.size(i);
  e.mtime = synthetic_mtime;
  e.etag = synthetic_etag(e.key, e.size);
  return e;
}

class generator_cursor final : public cursor {
 public:
  generator_cursor(const generator& g, uint64_t i) : _g(g), _i(i) { load(); }
  bool valid() const override { return _i < _g.count(); }
  const object_entry& entry() const override { return _entry; }
  void next() override {
    ++_i;
    load();
  }

 private:
  void load() {
    if (valid()) {
      _entry.key.clear();
      _g.key(_i, _entry.key);
      _entry.size = _g.size(_i);
      _entry.mtime = synthetic_mtime;
      _entry.etag = synthetic_etag(_entry.key, _entry.size);
    }
  }

  const generator& _g;
  uint64_t _i;
  object_entry _entry;
};

// Read-only store over one generator.
class generator_store final : public store {
 public:
  explicit generator_store(std::unique_ptr<generator> g) : _g(std::move(g)) {}

  std::unique_ptr<cursor> seek(std::string_view from, bool inclusive) override {
    return std::make_unique<generator_cursor>(*_g, _g->lower_bound(from, inclusive));
  }
  result<object_meta> head(std::string_view key) override {
    auto i = find(key);
    if (!i) {
      return std::move(i).err();
    }
    object_meta m;
    m.entry = make_entry(*_g, *i);
    m.content_type = content_type_for(key);
    return m;
  }
  result<std::shared_ptr<body_source>> open(std::string_view key) override {
    auto i = find(key);
    if (!i) {
      return std::move(i).err();
    }
    uint64_t size = _g->size(*i);
    return std::shared_ptr<body_source>(
        std::make_shared<synthetic_source>(content_seed(key, size), size));
  }
  result<uint64_t> crc64(std::string_view key) override {
    auto i = find(key);
    if (!i) {
      return std::move(i).err();
    }
    {
      std::lock_guard lock(_mu);
      if (auto it = _crc.find(*i); it != _crc.end()) {
        return it->second;
      }
    }
    uint64_t crc = synthetic_crc64(key, _g->size(*i));
    std::lock_guard lock(_mu);
    _crc.emplace(*i, crc);
    return crc;
  }
  result<object_entry> put(std::string_view, put_input) override {
    return make_error(EROFS, "synthetic base is read-only");
  }
  bool remove(std::string_view) override { return false; }

 private:
  result<uint64_t> find(std::string_view key) const {
    uint64_t i = _g->lower_bound(key, true);
    if (i < _g->count()) {
      std::string k;
      _g->key(i, k);
      if (k == key) {
        return i;
      }
    }
    return make_error(ENOENT, "no such key");
  }
  static std::string content_type_for(std::string_view key) {
    return key.ends_with(".JPEG") ? "image/jpeg" : "application/octet-stream";
  }

  std::unique_ptr<generator> _g;
  std::mutex _mu;
  std::unordered_map<uint64_t, uint64_t> _crc;
};

result<uint64_t> parse_count(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return make_error(EINVAL, "bad number '" + std::string(s) + "'");
  }
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t next = s.find(sep, pos);
    out.push_back(
        s.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) {
      return out;
    }
    pos = next + 1;
  }
}

result<std::unique_ptr<generator>> parse_one(std::string_view spec) {
  auto f = split(spec, ':');
  auto bad = [&](std::string why) {
    return make_error(EINVAL, "synthetic spec '" + std::string(spec) + "': " + why);
  };
  std::vector<uint64_t> nums;
  auto number = [&](size_t idx, bool size) -> status {
    auto r = size ? parse_size(f[idx]) : parse_count(f[idx]);
    if (!r) {
      return bad(r.err().message);
    }
    nums.push_back(*r);
    return {};
  };
  constexpr uint64_t max_objects = 100'000'000;
  if (f[0] == "imagenet" && (f.size() == 3 || f.size() == 4)) {
    for (size_t i = 1; i < f.size(); ++i) {
      if (auto s = number(i, i == 3); !s) {
        return std::move(s).err();
      }
    }
    if (nums[0] * nums[1] > max_objects || nums[0] > 80000) {
      return bad("too many objects");
    }
    return std::unique_ptr<generator>(
        std::make_unique<imagenet_generator>(nums[0], nums[1], f.size() == 4 ? nums[2] : 110000));
  }
  if ((f[0] == "flat" || f[0] == "deep") && (f.size() == 2 || f.size() == 3)) {
    for (size_t i = 1; i < f.size(); ++i) {
      if (auto s = number(i, i == 2); !s) {
        return std::move(s).err();
      }
    }
    if (nums[0] > max_objects) {
      return bad("too many objects");
    }
    uint64_t size = f.size() == 3 ? nums[1] : (f[0] == "flat" ? 4096 : 1024);
    if (f[0] == "flat") {
      return std::unique_ptr<generator>(std::make_unique<flat_generator>(nums[0], size));
    }
    return std::unique_ptr<generator>(std::make_unique<deep_generator>(nums[0], size));
  }
  if (f[0] == "big" && (f.size() == 2 || f.size() == 3)) {
    if (auto s = number(1, true); !s) {
      return std::move(s).err();
    }
    std::string key = f.size() == 3 ? std::string(f[2]) : "big.bin";
    if (key.empty()) {
      return bad("empty key");
    }
    return std::unique_ptr<generator>(std::make_unique<single_generator>(key, nums[0]));
  }
  return bad("expected imagenet:D:F[:SIZE], flat:N[:SIZE], deep:N[:SIZE] or big:SIZE[:KEY]");
}

}  // namespace

result<std::shared_ptr<store>> make_synthetic_store(std::string_view spec) {
  // Several specs joined by '+' form one bucket (their key sets should not overlap).
  std::shared_ptr<store> base;
  for (std::string_view part : split(spec, '+')) {
    auto g = parse_one(part);
    if (!g) {
      return std::move(g).err();
    }
    auto s = std::make_shared<generator_store>(std::move(*g));
    base = base ? make_layered_store(base, s) : std::shared_ptr<store>(s);
  }
  return make_layered_store(std::move(base), make_memory_store());
}

}  // namespace ossuring::emu
