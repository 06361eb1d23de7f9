// systemd readiness: READY=1 reaches a (fake) NOTIFY_SOCKET, path or abstract.
#include "tools/cli/sd_notify.hh"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

using namespace ossuring::cli;

namespace {

// A datagram socket bound to `name` ("@x": abstract), as systemd's notify socket is.
int fake_notify_socket(const std::string& name) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name[0] == '@') {
    addr.sun_path[0] = '\0';
  }
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
  return fd;
}

std::string receive(int fd) {
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

TEST_CASE("READY=1 is sent as one datagram to a NOTIFY_SOCKET path") {
  const std::string path = "/tmp/ossuring-notify-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  int fd = fake_notify_socket(path);
  REQUIRE(sd_notify_send(path.c_str(), "READY=1\nSTATUS=mounted\n"));
  CHECK(receive(fd) == "READY=1\nSTATUS=mounted\n");
  ::close(fd);
  ::unlink(path.c_str());
}

TEST_CASE("an abstract NOTIFY_SOCKET (@name) works too") {
  const std::string name = "@ossuring-notify-test-" + std::to_string(::getpid());
  int fd = fake_notify_socket(name);
  REQUIRE(sd_notify_send(name.c_str(), "READY=1\n"));
  CHECK(receive(fd) == "READY=1\n");
  ::close(fd);
}

TEST_CASE("without NOTIFY_SOCKET nothing is sent; a bad one is an error, not a crash") {
  CHECK(sd_notify_send(nullptr, "READY=1\n"));
  CHECK(sd_notify_send("", "READY=1\n"));
  CHECK_FALSE(sd_notify_send("relative/path", "READY=1\n"));
  CHECK_FALSE(sd_notify_send("/tmp/ossuring-no-such-notify-socket", "READY=1\n"));
}
