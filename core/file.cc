// Reading small configuration and credential files whole (core/file.hh).
#include "core/file.hh"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ossuring {

result<std::string> read_small_file(const std::string& what, const std::string& path,
                                    const std::function<status(const struct stat&)>& check) {
  // O_NONBLOCK: opening a FIFO must not hang; it is refused as not a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    return make_error(e, what + ": " + std::strerror(e));
  }
  std::string text;
  status ok = [&]() -> status {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      return make_error(e, what + ": " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      return make_error(EINVAL, what + " is not a regular file");
    }
    if (status s = check(st); !s.ok()) {
      return s;
    }
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        int e = errno;
        return make_error(e, "cannot read " + what + ": " + std::strerror(e));
      }
      if (n == 0) {
        return {};
      }
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > (1 << 20)) {
        return make_error(EFBIG, what + " is larger than 1 MiB");
      }
    }
  }();
  ::close(fd);
  if (!ok.ok()) {
    return std::move(ok).err();
  }
  return text;
}

}  // namespace ossuring
