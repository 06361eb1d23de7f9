// systemd readiness (sd_notify.hh): sd_notify(3)'s datagram, without libsystemd.
#include "tools/cli/sd_notify.hh"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

namespace ossuring::cli {

status sd_notify_send(const char* socket_path, std::string_view state) {
  if (socket_path == nullptr || socket_path[0] == '\0') {
    return {};
  }
  const size_t len = std::strlen(socket_path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((socket_path[0] != '/' && socket_path[0] != '@') || len >= sizeof(addr.sun_path)) {
    return make_error(EINVAL, std::string("NOTIFY_SOCKET: unusable address ") + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path, len);
  if (socket_path[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace
  }
  const socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(errno, std::string("NOTIFY_SOCKET: socket: ") + std::strerror(errno));
  }
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), addr_len);
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(state.size())) {
    return make_error(err, std::string("NOTIFY_SOCKET ") + socket_path + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace ossuring::cli
