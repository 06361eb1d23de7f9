// The supervisor of --supervise mounts (fs/fuse/supervisor.hh) with workers that hand over a
// stand-in connection (/dev/null) and an index image, then exit or crash: what a restarted
// worker is given, and when the supervisor stops restarting. No mount: the mount point is a
// folder nothing is mounted on (the supervisor's detach of it fails harmlessly).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "fs/fuse/supervisor.hh"

using namespace ossuring;
using namespace ossuring::fs;
using namespace ossuring::fs::fuse;

namespace {

// Runs supervise() with SIGINT/SIGTERM handlers restored afterwards; workers report one line
// each through a pipe, returned in `lines`.
struct supervised {
  int code = -1;
  std::string lines;
};

supervised run_supervised(const std::function<int(int, const restore_state*, int report)>& w) {
  const std::string mountpoint = "/tmp/ossuring-supervisor-test-" + std::to_string(::getpid());
  std::filesystem::create_directories(mountpoint);
  int report[2];
  REQUIRE(::pipe(report) == 0);
  struct sigaction old_term {
  }, old_int{};
  ::sigaction(SIGTERM, nullptr, &old_term);
  ::sigaction(SIGINT, nullptr, &old_int);
  supervised out;
  out.code = supervise(mountpoint, -1, [&](int link, const restore_state* restore) {
    ::close(report[0]);
    return w(link, restore, report[1]);
  });
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::close(report[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0) {
    out.lines.append(buf, static_cast<size_t>(n));
  }
  ::close(report[0]);
  std::filesystem::remove(mountpoint);
  return out;
}

void say(int fd, const std::string& s) {
  std::string line = s + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  (void)n;
}

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  off_t off = 0;
  while ((n = ::pread(fd, buf, sizeof buf, off)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

// The first worker's hand-over: an index image, then the connection with INIT's parameters.
void hand_over(int link, const std::string& image, uint64_t base) {
  supervisor_link l(link);
  const std::string data = image;
  REQUIRE(l.send_index(std::as_bytes(std::span<const char>(data.data(), data.size())), base, true)
              .ok());
  fuse_session_params p;
  p.kernel_minor = 41;
  p.max_write = 12345;
  p.passthrough = true;
  int conn = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  REQUIRE(l.send_connection(conn, p).ok());
  ::close(conn);
}

}  // namespace

TEST_CASE("a worker that dies after the hand-over is restarted with its connection and index") {
  supervised s = run_supervised([](int link, const restore_state* r, int report) {
    if (r == nullptr) {
      hand_over(link, "index image one", 7);
      say(report, "first");
      ::raise(SIGKILL);  // a crash
    }
    const bool conn_open = ::fcntl(r->fuse_fd, F_GETFD) >= 0;
    say(report, "restored restarts=" + std::to_string(r->restarts) +
                    " max_write=" + std::to_string(r->params.max_write) +
                    " minor=" + std::to_string(r->params.kernel_minor) +
                    " passthrough=" + (r->params.passthrough ? "yes" : "no") +
                    " base=" + std::to_string(r->index_base) +
                    " provisional=" + (r->index_provisional ? "yes" : "no") +
                    " image=" + read_all(r->index_fd) + " conn=" + (conn_open ? "open" : "closed"));
    return 0;  // unmounted: the supervisor ends with it
  });
  CHECK(s.code == 0);
  CHECK(s.lines ==
        "first\nrestored restarts=1 max_write=12345 minor=41 passthrough=yes base=7 "
        "provisional=yes image=index image one conn=open\n");
}

TEST_CASE("the latest index handed over is the one a restarted worker gets") {
  supervised s = run_supervised([](int link, const restore_state* r, int report) {
    if (r == nullptr) {
      hand_over(link, "old", 1);
      supervisor_link l(link);
      const std::string img = "refreshed";
      REQUIRE(l.send_index(std::as_bytes(std::span<const char>(img.data(), img.size())), 99, false)
                  .ok());
      return 3;  // an unclean exit is restarted too
    }
    say(report, read_all(r->index_fd) + " " + std::to_string(r->index_base) +
                    (r->index_provisional ? " provisional" : " confirmed"));
    return 0;
  });
  CHECK(s.code == 0);
  CHECK(s.lines == "refreshed 99 confirmed\n");
}

TEST_CASE("a worker that never handed its connection over ends the supervisor with its code") {
  supervised s = run_supervised([](int, const restore_state* r, int report) {
    say(report, r == nullptr ? "first" : "restarted");
    return 5;  // e.g. the index build failed before the mount
  });
  CHECK(s.code == 5);
  CHECK(s.lines == "first\n");
}

TEST_CASE("a worker that gave up is not restarted") {
  supervised s = run_supervised([](int link, const restore_state* r, int report) {
    say(report, r == nullptr ? "first" : "restarted");
    hand_over(link, "image", 1);
    supervisor_link(link).give_up("the test says so");
    ::raise(SIGKILL);
    return 0;
  });
  CHECK(s.code == 1);  // killed by a signal, nothing to restart
  CHECK(s.lines == "first\n");
}

TEST_CASE("restarts are given up after max_restarts within the window") {
  supervised s = run_supervised([](int link, const restore_state* r, int report) {
    say(report, std::to_string(r == nullptr ? 0 : r->restarts));
    hand_over(link, "image", 1);
    return 2;  // dies every time
  });
  CHECK(s.code == 1);
  std::string want;
  for (unsigned i = 0; i <= max_restarts; ++i) {
    want += std::to_string(i) + "\n";
  }
  CHECK(s.lines == want);
}
