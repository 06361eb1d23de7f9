// The folder store: objects are regular files under a directory. Encoding (docs/emulator.md):
// `D/.ossemu-dir-marker` is the object "D/", `D/.ossemu-object` is the object "D" when "D" is also
// a prefix; metadata a file cannot carry, and keys the folder cannot hold, live in the sidecar
// DIR/.ossemu/ (detail/folder_sidecar.hh), so everything written survives a restart.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "http/oss/crc64.hh"
#include "tools/emu/content.hh"
#include "tools/emu/detail/folder_sidecar.hh"
#include "tools/emu/detail/merge_cursor.hh"
#include "tools/emu/store.hh"

namespace ossuring::emu {

namespace {

constexpr std::string_view marker_name = ".ossemu-dir-marker";
constexpr std::string_view self_name = ".ossemu-object";
constexpr std::string_view reserved_prefix = ".ossemu-";

error errno_error(std::string what) {
  int e = errno;
  return make_error(e, what + ": " + std::strerror(e));
}

struct unique_fd {
  int fd = -1;
  explicit unique_fd(int f) : fd(f) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

class file_source final : public body_source {
 public:
  file_source(int fd, uint64_t size) : _fd(fd), _size(size) {}
  uint64_t size() const override { return _size; }
  size_t read(uint64_t offset, std::span<std::byte> out) const override {
    if (offset >= _size) {
      return 0;
    }
    size_t want = std::min<uint64_t>(out.size(), _size - offset);
    size_t done = 0;
    while (done < want) {
      ssize_t n =
          ::pread(_fd.fd, out.data() + done, want - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      done += static_cast<size_t>(n);
    }
    return done;
  }

 private:
  unique_fd _fd;
  uint64_t _size;
};

// Files up to this size get a real MD5 ETag (what S3 tools like rclone verify after a PUT);
// bigger ones a cheap hash of key, size and mtime, so huge folders stay quick to list.
constexpr uint64_t md5_limit = 64ULL << 20;

uint64_t mtime_ns(const struct stat& st) {
  return static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL +
         static_cast<uint64_t>(st.st_mtim.tv_nsec);
}

std::string cheap_etag(std::string_view key, const struct stat& st) {
  uint64_t salt = splitmix64(mtime_ns(st));
  return synthetic_etag(key, static_cast<uint64_t>(st.st_size) ^ salt);
}

std::vector<std::string_view> components(std::string_view key) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= key.size()) {
    size_t slash = key.find('/', pos);
    if (slash == std::string_view::npos) {
      out.push_back(key.substr(pos));
      break;
    }
    out.push_back(key.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

class snapshot_cursor final : public cursor {
 public:
  snapshot_cursor(std::shared_ptr<const std::vector<object_entry>> items, size_t i)
      : _items(std::move(items)), _i(i) {}
  bool valid() const override { return _i < _items->size(); }
  const object_entry& entry() const override { return (*_items)[_i]; }
  void next() override { ++_i; }

 private:
  std::shared_ptr<const std::vector<object_entry>> _items;
  size_t _i;
};

class folder_store final : public store {
 public:
  folder_store(std::string root, std::unordered_map<std::string, detail::sidecar_record> records)
      : _root(std::move(root)), _sidecar(_root), _records(std::move(records)) {}

  std::unique_ptr<cursor> seek(std::string_view from, bool inclusive) override {
    auto items = snapshot();
    auto it = std::lower_bound(items->begin(), items->end(), from,
                               [](const object_entry& e, std::string_view k) { return e.key < k; });
    if (!inclusive && it != items->end() && it->key == from) {
      ++it;
    }
    size_t i = static_cast<size_t>(it - items->begin());
    return std::make_unique<snapshot_cursor>(std::move(items), i);
  }

  result<object_meta> head(std::string_view key) override {
    if (!representable(key)) {
      std::lock_guard lock(_mu);
      auto it = _records.find(std::string(key));
      if (it == _records.end() || !it->second.in_sidecar) {
        return make_error(ENOENT, "no such key");
      }
      return it->second.meta;
    }
    struct stat st;
    std::string path;
    if (!locate(key, path, st)) {
      return make_error(ENOENT, "no such key");
    }
    object_meta m;
    m.entry = entry_for(key, st, &path);
    {
      std::lock_guard lock(_mu);
      if (const detail::sidecar_record* r = record_for(key, st)) {
        m.content_type = r->meta.content_type;
        m.user_meta = r->meta.user_meta;
      }
    }
    if (m.content_type.empty()) {
      m.content_type = content_type_for(key);
    }
    return m;
  }

  result<std::shared_ptr<body_source>> open(std::string_view key) override {
    struct stat st;
    std::string path;
    if (!representable(key)) {
      auto meta = head(key);
      if (!meta) {
        return std::move(meta).err();
      }
      path = _sidecar.data_path(key);
      st.st_size = static_cast<off_t>(meta->entry.size);
    } else if (!locate(key, path, st)) {
      return make_error(ENOENT, "no such key");
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return errno_error("open " + path);
    }
    return std::shared_ptr<body_source>(
        std::make_shared<file_source>(fd, static_cast<uint64_t>(st.st_size)));
  }

  result<uint64_t> crc64(std::string_view key) override {
    auto meta = head(key);
    if (!meta) {
      return std::move(meta).err();
    }
    {
      std::lock_guard lock(_mu);
      if (auto it = _crc.find(std::string(key));
          it != _crc.end() && it->second.first == meta->entry.etag) {
        return it->second.second;
      }
    }
    auto src = open(key);
    if (!src) {
      return std::move(src).err();
    }
    std::vector<std::byte> buf(1 << 20);
    uint64_t crc = oss::crc64_init;
    for (uint64_t off = 0; off < (*src)->size();) {
      size_t n = (*src)->read(off, buf);
      if (n == 0) {
        return make_error(EIO, "short read computing CRC of " + std::string(key));
      }
      crc = oss::crc64_update(crc, std::span<const std::byte>(buf.data(), n));
      off += n;
    }
    std::lock_guard lock(_mu);
    _crc.insert_or_assign(std::string(key), std::pair{meta->entry.etag, crc});
    return crc;
  }

  result<object_entry> put(std::string_view key, put_input in) override {
    detail::sidecar_record rec;
    rec.meta.entry.key = std::string(key);
    rec.meta.entry.size = in.data.size();
    rec.meta.entry.etag = in.etag.empty() ? detail::md5_etag(in.data) : std::move(in.etag);
    rec.meta.entry.type = in.type;
    rec.meta.content_type = std::move(in.content_type);
    rec.meta.user_meta = std::move(in.user_meta);
    invalidate();
    if (!representable(key)) {
      // Bytes first, then the record that makes them visible.
      rec.in_sidecar = true;
      rec.meta.entry.mtime = in.mtime != 0 ? in.mtime : static_cast<int64_t>(::time(nullptr));
      if (auto s = _sidecar.save_data(key, in.data); !s) {
        return std::move(s).err();
      }
      return commit(std::move(rec));
    }
    auto parts = components(key);
    bool marker = parts.back().empty();
    if (marker) {
      parts.pop_back();
    }
    std::string dir = _root;
    for (size_t i = 0; i + 1 < parts.size() || (marker && i < parts.size()); ++i) {
      dir += '/';
      dir += parts[i];
      if (auto s = ensure_dir(dir); !s) {
        return std::move(s).err();
      }
    }
    std::string target =
        marker ? dir + '/' + std::string(marker_name) : dir + '/' + std::string(parts.back());
    struct stat st;
    if (!marker && ::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      target += '/';
      target += self_name;  // "a" is also a prefix ("a/b" exists)
    }
    if (auto s = detail::write_file_atomically(target, in.data); !s) {
      return std::move(s).err();
    }
    if (::stat(target.c_str(), &st) != 0) {
      return errno_error("stat " + target);
    }
    rec.meta.entry.mtime = st.st_mtim.tv_sec;
    rec.file_mtime_ns = mtime_ns(st);
    return commit(std::move(rec));
  }

  bool remove(std::string_view key) override {
    if (!representable(key)) {
      std::lock_guard lock(_mu);
      auto it = _records.find(std::string(key));
      if (it == _records.end()) {
        return false;
      }
      _records.erase(it);
      _items.reset();
      _sidecar.remove(key);
      return true;
    }
    struct stat st;
    std::string path;
    if (!locate(key, path, st)) {
      return false;
    }
    invalidate();
    if (::unlink(path.c_str()) != 0) {
      return false;
    }
    forget(key);
    // Prune directories left empty, as a prefix vanishes with its last object.
    std::string dir = path.substr(0, path.rfind('/'));
    while (dir.size() > _root.size() && ::rmdir(dir.c_str()) == 0) {
      dir.resize(dir.rfind('/'));
    }
    return true;
  }

  void invalidate() {
    std::lock_guard lock(_mu);
    _items.reset();
  }

  // A key the folder can hold: non-empty components (a trailing '/' is a marker), none "." or
  // "..", none longer than NAME_MAX, none using the reserved ".ossemu-" names, and not under the
  // sidecar ".ossemu/".
  static bool representable(std::string_view key) {
    if (key.empty() || key.front() == '/' || key.find('\0') != std::string_view::npos) {
      return false;
    }
    auto parts = components(key);
    if (parts.back().empty()) {
      parts.pop_back();
    }
    if (parts.front() == detail::folder_sidecar::dir_name) {
      return false;
    }
    for (std::string_view p : parts) {
      if (p.empty() || p == "." || p == ".." || p.size() > NAME_MAX ||
          p.starts_with(reserved_prefix)) {
        return false;
      }
    }
    return true;
  }

 private:
  // Persists the record (the object's metadata) and makes it current.
  result<object_entry> commit(detail::sidecar_record rec) {
    if (auto s = _sidecar.save(rec); !s) {
      return std::move(s).err();
    }
    object_entry e = rec.meta.entry;
    std::lock_guard lock(_mu);
    _etags.erase(e.key);
    _records.insert_or_assign(e.key, std::move(rec));
    _items.reset();
    return e;
  }

  void forget(std::string_view key) {
    std::lock_guard lock(_mu);
    if (_records.erase(std::string(key)) > 0) {
      _sidecar.remove(key);
    }
  }

  // The record of a folder file, when it still describes the file (same size and mtime). _mu held.
  const detail::sidecar_record* record_for(std::string_view key, const struct stat& st) const {
    auto it = _records.find(std::string(key));
    if (it == _records.end() || it->second.in_sidecar ||
        it->second.meta.entry.size != static_cast<uint64_t>(st.st_size) ||
        it->second.file_mtime_ns != mtime_ns(st)) {
      return nullptr;
    }
    return &it->second;
  }

  // Finds the file holding `key` (plain file, self object or marker).
  bool locate(std::string_view key, std::string& path, struct stat& st) const {
    path = _root + '/' + std::string(key);
    if (key.ends_with('/')) {
      path += marker_name;
      return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    }
    if (::stat(path.c_str(), &st) != 0) {
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      path += '/';
      path += self_name;
      return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    }
    return S_ISREG(st.st_mode);
  }

  // mkdir, first moving a plain file of that name to DIR/.ossemu-object (object + prefix).
  static status ensure_dir(const std::string& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        return {};
      }
      std::string tmp = dir + ".ossemu-move";
      if (::rename(dir.c_str(), tmp.c_str()) != 0 || ::mkdir(dir.c_str(), 0755) != 0 ||
          ::rename(tmp.c_str(), (dir + '/' + std::string(self_name)).c_str()) != 0) {
        return errno_error("convert " + dir);
      }
      return {};
    }
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return errno_error("mkdir " + dir);
    }
    return {};
  }

  // ETags of files without a (current) record are cached per key with the (size, mtime) they
  // belong to: a changed file is rehashed.
  struct etag_record {
    uint64_t size = 0;
    uint64_t mtime_ns = 0;
    std::string etag;
  };

  object_entry entry_for(std::string_view key, const struct stat& st,
                         const std::string* path = nullptr) {
    object_entry e;
    e.key = std::string(key);
    e.size = static_cast<uint64_t>(st.st_size);
    e.mtime = st.st_mtim.tv_sec;
    {
      std::lock_guard lock(_mu);
      if (const detail::sidecar_record* r = record_for(key, st)) {
        e.etag = r->meta.entry.etag;
        e.type = r->meta.entry.type;
        return e;
      }
      auto it = _etags.find(e.key);
      if (it != _etags.end() && it->second.size == e.size && it->second.mtime_ns == mtime_ns(st)) {
        e.etag = it->second.etag;
        return e;
      }
    }
    e.etag = cheap_etag(key, st);
    if (path != nullptr && e.size <= md5_limit) {
      int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        file_source src(fd, e.size);
        std::string data = read_all(src);
        if (data.size() == e.size) {
          e.etag = detail::md5_etag(data);
        }
      }
    }
    std::lock_guard lock(_mu);
    _etags.insert_or_assign(e.key,
                            etag_record{static_cast<uint64_t>(st.st_size), mtime_ns(st), e.etag});
    return e;
  }

  static std::string content_type_for(std::string_view key) {
    if (key.ends_with(".jpg") || key.ends_with(".JPEG") || key.ends_with(".jpeg")) {
      return "image/jpeg";
    }
    if (key.ends_with(".txt")) {
      return "text/plain";
    }
    return "application/octet-stream";
  }

  std::shared_ptr<const std::vector<object_entry>> snapshot() {
    {
      std::lock_guard lock(_mu);
      if (_items) {
        return _items;
      }
    }
    auto items = std::make_shared<std::vector<object_entry>>();
    walk(_root, "", *items);
    {
      std::lock_guard lock(_mu);
      for (const auto& [key, rec] : _records) {
        if (rec.in_sidecar) {
          items->push_back(rec.meta.entry);
        }
      }
    }
    std::sort(items->begin(), items->end(),
              [](const object_entry& a, const object_entry& b) { return a.key < b.key; });
    std::lock_guard lock(_mu);
    _items = items;
    return _items;
  }

  void walk(const std::string& dir, const std::string& rel, std::vector<object_entry>& out) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      return;
    }
    while (struct dirent* de = ::readdir(d)) {
      std::string_view name = de->d_name;
      if (name == "." || name == ".." ||
          (rel.empty() && name == detail::folder_sidecar::dir_name)) {
        continue;
      }
      std::string path = dir + '/' + std::string(name);
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) {
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        walk(path, rel + std::string(name) + '/', out);
      } else if (S_ISREG(st.st_mode)) {
        if (name == marker_name && !rel.empty()) {
          out.push_back(entry_for(rel, st, &path));
        } else if (name == self_name && !rel.empty()) {
          out.push_back(entry_for(std::string_view(rel).substr(0, rel.size() - 1), st, &path));
        } else if (!name.starts_with(reserved_prefix)) {
          out.push_back(entry_for(rel + std::string(name), st, &path));
        }
      }
    }
    ::closedir(d);
  }

  std::string _root;
  detail::folder_sidecar _sidecar;
  std::mutex _mu;
  // Metadata of objects written through the emulator, and every sidecar object; mirrors
  // DIR/.ossemu/meta.
  std::unordered_map<std::string, detail::sidecar_record> _records;
  std::shared_ptr<const std::vector<object_entry>> _items;
  std::unordered_map<std::string, std::pair<std::string, uint64_t>> _crc;
  std::unordered_map<std::string, etag_record> _etags;
};

}  // namespace

result<std::shared_ptr<store>> make_folder_store(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(ENOTDIR, "bucket folder '" + dir + "' is not a directory");
  }
  auto records = detail::folder_sidecar(dir).load();
  if (!records) {
    return std::move(records).err();
  }
  return std::shared_ptr<store>(
      std::make_shared<folder_store>(std::move(dir), std::move(*records)));
}

}  // namespace ossuring::emu
