// blob_store: memory and cache-directory backends.
#include "fs/blob_store.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace ossuring::fs {

namespace {

class memory_blob final : public blob {
 public:
  explicit memory_blob(std::vector<std::byte>&& d) : _data(std::move(d)) {}
  uint64_t size() const override { return _data.size(); }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    if (offset >= _data.size()) {
      return size_t{0};
    }
    size_t n = std::min<uint64_t>(dest.size(), _data.size() - offset);
    std::memcpy(dest.data(), _data.data() + offset, n);
    return n;
  }
  std::span<const std::byte> memory() const override { return _data; }

 private:
  std::vector<std::byte> _data;
};

class file_blob final : public blob {
 public:
  file_blob(int fd, uint64_t size) : _fd(fd), _size(size) {}
  ~file_blob() override { ::close(_fd); }
  uint64_t size() const override { return _size; }
  result<size_t> read(uint64_t offset, std::span<std::byte> dest) const override {
    ssize_t n = ::pread(_fd, dest.data(), dest.size(), static_cast<off_t>(offset));
    if (n < 0) {
      return make_error(errno, "blob read failed");
    }
    return static_cast<size_t>(n);
  }
  int fd() const override { return _fd; }

 private:
  int _fd;
  uint64_t _size;
};

// Ids go into file names: keep [A-Za-z0-9._-], escape the rest.
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

}  // namespace

std::string blob_store::blob_id(std::string_view etag, uint64_t size) {
  return std::string(etag) + "-" + std::to_string(size);
}

std::shared_ptr<blob> memory_blob_store::find(const std::string& id) {
  auto it = _blobs.find(id);
  return it == _blobs.end() ? nullptr : it->second;
}

result<std::shared_ptr<blob>> memory_blob_store::store(const std::string& id,
                                                       std::vector<std::byte>&& data) {
  auto& slot = _blobs[id];
  if (!slot) {
    _bytes += data.size();
    slot = std::make_shared<memory_blob>(std::move(data));
  }
  return slot;
}

directory_blob_store::directory_blob_store(std::string dir) : _dir(std::move(dir)) {
  ::mkdir(_dir.c_str(), 0700);
}

std::shared_ptr<blob> directory_blob_store::find(const std::string& id) {
  auto it = _open.find(id);
  if (it != _open.end()) {
    return it->second;
  }
  std::string path = _dir + "/" + safe_name(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return nullptr;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  auto b = std::make_shared<file_blob>(fd, static_cast<uint64_t>(st.st_size));
  _open[id] = b;
  return b;
}

result<std::shared_ptr<blob>> directory_blob_store::store(const std::string& id,
                                                          std::vector<std::byte>&& data) {
  if (auto b = find(id)) {
    return b;
  }
  std::string path = _dir + "/" + safe_name(id);
  std::string tmp = path + ".part";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(errno, "cannot create " + tmp);
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(e, "cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return make_error(e, "cannot rename " + tmp);
  }
  _bytes += data.size();
  auto b = find(id);
  if (!b) {
    return make_error(EIO, "cannot reopen " + path);
  }
  return b;
}

}  // namespace ossuring::fs
