// blob_store: LRU budget over cached blobs; memfd and cache-directory backends.
#include "fs/blob_store.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/log.hh"

namespace ossuring::fs {

namespace {

// Gives an uncached blob's bytes back to its store's accounting when the last holder lets go.
struct transient_charge {
  std::shared_ptr<blob_accounting> acct;
  uint64_t bytes = 0;
  transient_charge() = default;
  transient_charge(std::shared_ptr<blob_accounting> a, uint64_t n) : acct(std::move(a)), bytes(n) {
    if (acct) {
      acct->transient_bytes += bytes;
    }
  }
  transient_charge(const transient_charge&) = delete;
  transient_charge& operator=(const transient_charge&) = delete;
  ~transient_charge() {
    if (acct) {
      acct->transient_bytes -= bytes;
    }
  }
};

class heap_blob final : public blob {
 public:
  heap_blob(std::vector<std::byte>&& d, std::shared_ptr<blob_accounting> a)
      : _data(std::move(d)), _charge(std::move(a), _data.size()) {}
  uint64_t size() const override { return _data.size(); }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    if (offset >= _data.size()) {
      return size_t{0};
    }
    size_t n = std::min<uint64_t>(dest.size(), _data.size() - offset);
    std::memcpy(dest.data(), _data.data() + offset, n);
    return n;
  }

 private:
  std::vector<std::byte> _data;
  transient_charge _charge;
};

// A blob behind a file descriptor: a cache-directory file or a sealed memfd.
class fd_blob final : public blob {
 public:
  fd_blob(int fd, uint64_t size, std::shared_ptr<blob_accounting> a)
      : _fd(fd), _size(size), _charge(std::move(a), size) {}
  ~fd_blob() override { ::close(_fd); }
  uint64_t size() const override { return _size; }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    if (offset >= _size) {
      return size_t{0};
    }
    size_t want = std::min<uint64_t>(dest.size(), _size - offset);
    size_t done = 0;
    while (done < want) {
      ssize_t n = ::pread(_fd, dest.data() + done, want - done, static_cast<off_t>(offset + done));
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
  int fd() const override { return _fd; }

 private:
  int _fd;
  uint64_t _size;
  transient_charge _charge;
};

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

// Ids go into file names: keep [A-Za-z0-9._-], escape the rest as %XX.
std::string safe_name(const std::string& id) {
  std::string s;
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      s += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      s += buf;
    }
  }
  return s;
}

std::string unsafe_name(std::string_view s) {
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

// A blob in memory: a sealed memfd, or the heap when shmem runs out.
std::shared_ptr<blob> make_memory_blob(std::vector<std::byte>&& data,
                                       std::shared_ptr<blob_accounting> charge) {
  int fd = ::memfd_create("ossuring-blob", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd >= 0) {
    if (status w = write_all(fd, data); w.ok()) {
      // Sealed: the kernel (passthrough) and we read bytes that can never change.
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
      uint64_t size = data.size();
      return std::make_shared<fd_blob>(fd, size, std::move(charge));
    }
    ::close(fd);  // out of shmem: keep the bytes on the heap instead
  }
  return std::make_shared<heap_blob>(std::move(data), std::move(charge));
}

}  // namespace

std::string blob_store::blob_id(std::string_view etag, uint64_t size) {
  return std::string(etag) + "-" + std::to_string(size);
}

blob_store::blob_store(uint64_t limit) : _limit(limit) {}

void blob_store::touch(entry& e) {
  _lru.splice(_lru.begin(), _lru, e.lru);
}

void blob_store::adopt(const std::string& id, uint64_t size) {
  if (_entries.count(id)) {
    return;
  }
  _lru.push_front(id);  // adopted oldest first: the newest ends up most recently used
  _entries.emplace(id, entry{nullptr, size, _lru.begin()});
  _cached_bytes += size;
}

std::shared_ptr<blob> blob_store::find(const std::string& id) {
  auto it = _entries.find(id);
  if (it == _entries.end()) {
    return nullptr;
  }
  entry& e = it->second;
  if (!e.b) {
    e.b = open_blob(id);
    if (!e.b) {
      _cached_bytes -= e.size;
      _lru.erase(e.lru);
      _entries.erase(it);
      return nullptr;
    }
  }
  touch(e);
  return e.b;
}

void blob_store::make_room(uint64_t n, bool one_more) {
  const uint64_t extra = one_more ? 1 : 0;
  auto over = [&] {
    bool bytes = _limit > 0 && _cached_bytes + _acct->transient_bytes + _reserved + n > _limit;
    bool count = _max_blobs > 0 && _entries.size() + extra > _max_blobs;
    return bytes || count;
  };
  auto it = _lru.end();
  while (over() && it != _lru.begin()) {
    --it;
    auto e = _entries.find(*it);
    // Pinned: someone besides the store holds the blob (an open file, a backing id).
    if (e->second.b && e->second.b.use_count() > 1) {
      continue;
    }
    _cached_bytes -= e->second.size;
    ++_evictions;
    std::string id = std::move(*it);
    it = _lru.erase(it);
    _entries.erase(e);
    drop_blob(id);
  }
}

void blob_store::reserve(uint64_t n) {
  make_room(n);
  _reserved += n;
}

void blob_store::unreserve(uint64_t n) {
  _reserved -= std::min(n, _reserved);
}

result<std::shared_ptr<blob>> blob_store::store(const std::string& id,
                                                std::vector<std::byte>&& data, bool reserved,
                                                bool cacheable) {
  const uint64_t size = data.size();
  if (reserved) {
    unreserve(size);
  }
  if (cacheable) {
    if (auto b = find(id)) {
      return b;
    }
    make_room(size, true);
  }
  const bool cached =
      cacheable &&
      (_limit == 0 || _cached_bytes + _acct->transient_bytes + _reserved + size <= _limit) &&
      (_max_blobs == 0 || _entries.size() < _max_blobs);
  auto b = make_blob(id, std::move(data), cached);
  if (!b) {
    // The cache folder failed (disk full, an I/O error): the object was fetched all the same,
    // so the reader gets it from memory, uncached, rather than an error. `data` is intact:
    // make_blob only reads it when it fails.
    log_warn("blob_store_failed", {{"id", id}, {"error", b.err().message}});
    ++_uncached;
    return make_memory_blob(std::move(data), _acct);
  }
  if (!cached) {
    ++_uncached;
    return b;
  }
  _lru.push_front(id);
  _entries.emplace(id, entry{*b, size, _lru.begin()});
  _cached_bytes += size;
  return b;
}

blob_store_stats blob_store::stats() const {
  blob_store_stats s;
  s.limit = _limit;
  s.bytes = _cached_bytes + _acct->transient_bytes + _reserved;
  s.blobs = _entries.size();
  for (const auto& [id, e] : _entries) {
    if (e.b && e.b.use_count() > 1) {
      ++s.pinned;
    }
  }
  s.evictions = _evictions;
  s.uncached = _uncached;
  s.reserved = _reserved;
  return s;
}

// ---- memory ----

result<std::shared_ptr<blob>> memory_blob_store::make_blob(const std::string&,
                                                           std::vector<std::byte>&& data,
                                                           bool cached) {
  return make_memory_blob(std::move(data), cached ? nullptr : _acct);
}

// ---- cache directory ----

namespace {

// The size a blob id names ("<etag>-<size>"): a file of another size under it is not that
// object (a write cut short by a crash, a file from elsewhere) and is never served.
bool size_matches_id(std::string_view id, uint64_t size) {
  size_t dash = id.rfind('-');
  if (dash == std::string_view::npos) {
    return false;
  }
  uint64_t named = 0;
  std::string_view digits = id.substr(dash + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), named);
  return ec == std::errc() && end == digits.data() + digits.size() && named == size;
}

}  // namespace

directory_blob_store::directory_blob_store(std::string dir, uint64_t limit)
    : blob_store(limit), _dir(std::move(dir)) {
  ::mkdir(_dir.c_str(), 0700);
  // Adopt what a previous run left, oldest access first, so LRU order survives restarts.
  struct found {
    std::string id;
    uint64_t size;
    int64_t atime;
  };
  std::vector<found> files;
  if (DIR* d = ::opendir(_dir.c_str())) {
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
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        std::string id = unsafe_name(name);
        if (!size_matches_id(id, static_cast<uint64_t>(st.st_size))) {
          ::unlink(path.c_str());
          continue;
        }
        files.push_back(
            {std::move(id), static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_atime)});
      }
    }
    ::closedir(d);
  }
  std::sort(files.begin(), files.end(),
            [](const found& a, const found& b) { return a.atime < b.atime; });
  for (const found& f : files) {
    adopt(f.id, f.size);
  }
  make_room(0);
}

std::string directory_blob_store::path_of(const std::string& id) const {
  return _dir + "/" + safe_name(id);
}

std::shared_ptr<blob> directory_blob_store::open_blob(const std::string& id) {
  int fd = ::open(path_of(id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return nullptr;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !size_matches_id(id, static_cast<uint64_t>(st.st_size))) {
    ::close(fd);
    return nullptr;
  }
  return std::make_shared<fd_blob>(fd, static_cast<uint64_t>(st.st_size), nullptr);
}

void directory_blob_store::drop_blob(const std::string& id) {
  // An fd still open elsewhere keeps the bytes readable until closed.
  ::unlink(path_of(id).c_str());
}

result<std::shared_ptr<blob>> directory_blob_store::make_blob(const std::string& id,
                                                              std::vector<std::byte>&& data,
                                                              bool cached) {
  std::string path = path_of(id);
  std::string tmp = path + ".part";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(errno, "cannot create " + tmp);
  }
  if (status w = write_all(fd, data); !w.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return make_error(w.err().code, "cannot write " + tmp);
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return make_error(e, "cannot write " + tmp);
  }
  if (!cached) {
    // Over budget: an unlinked file that lives as long as its holders.
    int rfd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    ::unlink(tmp.c_str());
    if (rfd < 0) {
      return make_error(errno, "cannot reopen " + tmp);
    }
    return std::shared_ptr<blob>(std::make_shared<fd_blob>(rfd, data.size(), _acct));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return make_error(e, "cannot rename " + tmp);
  }
  auto b = open_blob(id);
  if (!b) {
    return make_error(EIO, "cannot reopen " + path);
  }
  return b;
}

}  // namespace ossuring::fs
