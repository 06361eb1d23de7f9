// blob_store backends: memory (slab slots, a memfd only while a handle's fd() is in use) and the
// cache directory (one file per blob, open only while a handle lives).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "fs/cache/blob_state.hh"
#include "fs/cache/blob_store.hh"

namespace ossuring::fs {

namespace {

constexpr uint64_t no_slot = UINT64_MAX;  // an empty blob takes no slot

status write_all(int fd, std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return make_error(errno, "blob write failed");
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

result<size_t> pread_all(int fd, uint64_t size, uint64_t offset, std::span<std::byte> dest) {
  if (offset >= size) {
    return size_t{0};
  }
  size_t want = std::min<uint64_t>(dest.size(), size - offset);
  size_t done = 0;
  while (done < want) {
    ssize_t n = ::pread(fd, dest.data() + done, want - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return make_error(errno, "blob read failed");
    }
    if (n == 0) {
      break;
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

// A cached memory blob: its bytes in place in a slab slot. fd() makes a sealed memfd copy for
// passthrough on first use, closed with the handle (when the last open file releases the blob).
class slab_blob final : public blob_handle {
 public:
  slab_blob(std::shared_ptr<blob_store_state> st, uint32_t n, uint64_t size, const std::byte* p)
      : blob_handle(std::move(st), n, size), _bytes(p) {}
  ~slab_blob() override {
    if (_fd >= 0) {
      ::close(_fd);
      --_st->descriptors;
    }
  }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    if (offset >= _size) {
      return size_t{0};
    }
    size_t n = std::min<uint64_t>(dest.size(), _size - offset);
    std::memcpy(dest.data(), _bytes + offset, n);
    return n;
  }
  int fd() const override {
    if (_fd < 0 && !_tried) {
      _tried = true;  // out of shmem or descriptors: served by READs instead
      int fd = ::memfd_create("ossuring-blob", MFD_CLOEXEC | MFD_ALLOW_SEALING);
      if (fd >= 0) {
        if (write_all(fd, std::span(_bytes, _size)).ok()) {
          // Sealed: the kernel (passthrough) and we read bytes that can never change.
          ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
          _fd = fd;
          ++_st->descriptors;
        } else {
          ::close(fd);
        }
      }
    }
    return _fd;
  }

 private:
  const std::byte* _bytes;
  mutable int _fd = -1;
  mutable bool _tried = false;
};

// A cached blob in the cache folder, open while this handle lives.
class file_blob final : public blob_handle {
 public:
  file_blob(std::shared_ptr<blob_store_state> st, uint32_t n, uint64_t size, int fd)
      : blob_handle(std::move(st), n, size), _fd(fd) {
    ++_st->descriptors;
  }
  ~file_blob() override {
    ::close(_fd);
    --_st->descriptors;
  }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    return pread_all(_fd, _size, offset, dest);
  }
  int fd() const override { return _fd; }

 private:
  int _fd;
};

// An uncached blob in an unlinked file of the cache folder (over budget): lives with its holders.
class unlinked_blob final : public blob {
 public:
  unlinked_blob(int fd, uint64_t size, std::shared_ptr<blob_accounting> a)
      : _fd(fd), _size(size), _charge(std::move(a), size) {}
  ~unlinked_blob() override { ::close(_fd); }
  uint64_t size() const override { return _size; }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    return pread_all(_fd, _size, offset, dest);
  }
  int fd() const override { return _fd; }

 private:
  int _fd;
  uint64_t _size;
  transient_charge _charge;
};

}  // namespace

// ---- memory ----

memory_blob_store::memory_blob_store(uint64_t limit) : blob_store(limit) {}

result<uint64_t> memory_blob_store::put(const blob_digest&, std::span<const std::byte> data) {
  if (data.empty()) {
    return no_slot;
  }
  result<uint64_t> where = _st->slabs.alloc(data.size());
  if (where) {
    std::memcpy(_st->slabs.at(*where), data.data(), data.size());
  }
  return where;
}

result<std::shared_ptr<blob>> memory_blob_store::open(uint32_t n) {
  const blob_index::entry& e = _st->index.at(n);
  const std::byte* p = e.where == no_slot ? nullptr : _st->slabs.at(e.where);
  return std::shared_ptr<blob>(std::make_shared<slab_blob>(_st, n, e.size, p));
}

void memory_blob_store::drop(const blob_index::entry& e) {
  if (e.where != no_slot) {
    _st->slabs.free(e.where, e.size);
  }
}

// ---- cache directory ----

namespace {

// Old cache folders named files by the escaped id ("<etag>-<size>", [A-Za-z0-9._-] kept, the
// rest %XX): renamed to the digest name when found.
std::string unescape(std::string_view s) {
  std::string id;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned v = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::sscanf(std::string(s.substr(i + 1, 2)).c_str(), "%2x", &v) == 1) {
      id += static_cast<char>(v);
      i += 2;
    } else {
      id += s[i];
    }
  }
  return id;
}

// The size at the end of a name ("...-<size>"), if it is one.
bool trailing_size(std::string_view name, uint64_t& size) {
  size_t dash = name.rfind('-');
  if (dash == std::string_view::npos) {
    return false;
  }
  std::string_view digits = name.substr(dash + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
  return ec == std::errc() && end == digits.data() + digits.size() && !digits.empty();
}

bool parse_hex64(std::string_view s, uint64_t& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return ec == std::errc() && end == s.data() + s.size();
}

// "<16 hex lo><16 hex hi>-<size>": a name this store wrote.
bool parse_name(std::string_view name, blob_digest& key, uint64_t& size) {
  return name.size() > 33 && name[32] == '-' && parse_hex64(name.substr(0, 16), key.lo) &&
         parse_hex64(name.substr(16, 16), key.hi) && trailing_size(name, size) &&
         name.find_first_not_of("0123456789abcdef", 0) == 32;
}

}  // namespace

directory_blob_store::directory_blob_store(std::string dir, uint64_t limit)
    : blob_store(limit), _dir(std::move(dir)) {
  _hot_capacity = 1024;
  ::mkdir(_dir.c_str(), 0700);
  scan();
  make_room(0);
}

void directory_blob_store::scan() {
  // Adopt what a previous run left, oldest access first, so LRU order survives restarts. A file
  // whose size is not the one its name gives (a write cut short by a crash, a file from
  // elsewhere) is not that object and is removed.
  struct found {
    blob_digest key;
    uint64_t size;
    int64_t atime;
  };
  std::vector<found> files;
  DIR* d = ::opendir(_dir.c_str());
  if (!d) {
    return;
  }
  while (dirent* de = ::readdir(d)) {
    std::string_view name = de->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    std::string path = _dir + "/" + std::string(name);
    if (name.size() > 5 && name.substr(name.size() - 5) == ".part") {
      ::unlink(path.c_str());  // an interrupted write
      continue;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    const uint64_t on_disk = static_cast<uint64_t>(st.st_size);
    found f{{}, 0, static_cast<int64_t>(st.st_atime)};
    if (!parse_name(name, f.key, f.size)) {
      const std::string id = unescape(name);  // an older cache folder's name
      if (trailing_size(id, f.size) && f.size == on_disk) {
        f.key = blob_digest::of(id);
        if (::rename(path.c_str(), path_of(f.key, f.size).c_str()) != 0) {
          continue;
        }
      }
    }
    if (f.size != on_disk) {
      ::unlink(path.c_str());
      continue;
    }
    files.push_back(f);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end(),
            [](const found& a, const found& b) { return a.atime < b.atime; });
  for (const found& f : files) {
    adopt(f.key, f.size);
  }
}

std::string directory_blob_store::path_of(const blob_digest& key, uint64_t size) const {
  char name[64];
  std::snprintf(name, sizeof name, "/%016llx%016llx-%llu", static_cast<unsigned long long>(key.lo),
                static_cast<unsigned long long>(key.hi), static_cast<unsigned long long>(size));
  return _dir + name;
}

result<std::shared_ptr<blob>> directory_blob_store::open(uint32_t n) {
  const blob_index::entry& e = _st->index.at(n);
  int fd = ::open(path_of(e.key, e.size).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
      return make_error(errno, "cannot open a cached blob");
    }
    return std::shared_ptr<blob>();
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != e.size) {
    ::close(fd);
    return std::shared_ptr<blob>();
  }
  return std::shared_ptr<blob>(std::make_shared<file_blob>(_st, n, e.size, fd));
}

void directory_blob_store::drop(const blob_index::entry& e) {
  // An fd still open elsewhere keeps the bytes readable until closed.
  ::unlink(path_of(e.key, e.size).c_str());
}

result<uint64_t> directory_blob_store::put(const blob_digest& key,
                                           std::span<const std::byte> data) {
  std::string path = path_of(key, data.size());
  std::string tmp = path + ".part";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(errno, "cannot create " + tmp);
  }
  status w = write_all(fd, data);
  if (w.ok() && ::close(fd) != 0) {
    w = make_error(errno, "cannot write " + tmp);
  } else if (!w.ok()) {
    ::close(fd);
  }
  if (w.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    w = make_error(errno, "cannot rename " + tmp);
  }
  if (!w.ok()) {
    ::unlink(tmp.c_str());
    return w.err();
  }
  return uint64_t{0};
}

result<std::shared_ptr<blob>> directory_blob_store::transient(std::vector<std::byte>& data) {
  // Over budget: an unlinked file that lives as long as its holders.
  std::string tmp = _dir + "/transient-" + std::to_string(::getpid()) + ".part";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return blob_store::transient(data);  // the folder cannot take it: memory instead
  }
  ::unlink(tmp.c_str());
  if (!write_all(fd, data).ok()) {
    ::close(fd);
    return blob_store::transient(data);
  }
  return std::shared_ptr<blob>(std::make_shared<unlinked_blob>(fd, data.size(), _acct));
}

}  // namespace ossuring::fs
