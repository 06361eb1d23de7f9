// fs::fuse::session on real kernel mounts (root and /dev/fuse, else SKIP): ready after INIT,
// reads served byte for byte, stop() or an unmount from outside ending run() with the mount
// gone, the supervisor hand-off (index before connection), and clone channels on a pool.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/io.hh"
#include "core/reactor_pool.hh"
#include "fs/filesystem.hh"
#include "fs/fuse/mount.hh"
#include "fs/fuse/session.hh"
#include "tests/support/mock_client.hh"

using namespace ossuring;
using namespace ossuring::fs;
using namespace std::chrono_literals;

namespace {

// 3 MiB with no repeating 1 MiB window: a READ at the wrong offset or from a stale buffer shows.
std::string big_content() {
  std::string s(3u << 20, '\0');
  uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

struct bucket {
  test::mock_client mock;
  std::string big = big_content();
  bucket() {
    mock.put("ds/hello.txt", "hello from a session\n");
    mock.put("ds/sub/big.bin", big);
  }
};

fs_options index_options() {
  fs_options o;
  o.bucket = "b";
  o.prefix = "ds/";
  return o;
}

std::string mount_dir(const char* what) {
  std::string dir = std::string("/tmp/ossuring-session-") + what + "-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

fuse::session_options options_for(const std::string& dir) {
  fuse::session_options o;
  o.mount.mountpoint = dir;
  o.mount.source = "oss://b/ds/";
  o.mode = open_mode::read;  // every read is a daemon READ
  o.bucket = "b";
  o.prefix = "ds/";
  return o;
}

std::string read_file(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    return "open failed: " + std::string(std::strerror(errno));
  }
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// What the user thread saw through the mount.
struct seen {
  std::string hello;
  bool big_equal = false;
  int missing_errno = 0;
  int write_errno = 0;
};

void use_mount(const std::string& dir, const std::string& big, seen& out) {
  out.hello = read_file(dir + "/hello.txt");
  out.big_equal = read_file(dir + "/sub/big.bin") == big;
  struct stat st {};
  if (::stat((dir + "/nope").c_str(), &st) != 0) {
    out.missing_errno = errno;
  }
  // A read-only mount: the kernel or the file system refuses, never the daemon's crash.
  int fd = ::open((dir + "/new.txt").c_str(), O_WRONLY | O_CREAT, 0644);
  out.write_errno = fd < 0 ? errno : 0;
  if (fd >= 0) {
    ::close(fd);
  }
}

}  // namespace

TEST_CASE(
    "a session is ready after INIT, serves reads, and stop() ends run() with the mount gone") {
  bucket b;
  filesystem fsys(b.mock, index_options());
  const std::string dir = mount_dir("stop");
  reactor r;
  std::atomic<bool> used{false};
  seen s;
  status ready_status = make_error(EINVAL, "never ready");
  bool ended_fired = false;
  std::thread user;
  status end = r.run([&]() -> task<status> {
    result<index_stats> built = co_await fsys.build_index();
    REQUIRE(built.ok());
    auto opened =
        fuse::session::open(fsys, options_for(dir), nullptr, fuse::supervisor_link(), nullptr);
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.err().message));
    fuse::session& sess = **opened;
    gate g;
    g.spawn([](fuse::session& ss, status& rs, std::thread& t, const std::string& d,
               const std::string& big, seen& out, std::atomic<bool>& done) -> task<void> {
      rs = co_await ss.ready();
      t = std::thread([&d, &big, &out, &done] {
        use_mount(d, big, out);
        done = true;
      });
      while (!done.load()) {
        co_await sleep_for(5ms);
      }
      ss.stop();
    }(sess, ready_status, user, dir, b.big, s, used));
    status st = co_await sess.run();
    ended_fired = sess.ended().aborted();
    co_await g.close();
    co_await fsys.close();
    co_return st;
  }());
  if (user.joinable()) {
    user.join();
  }
  CHECK(end.ok());
  CHECK(ready_status.ok());
  CHECK(ended_fired);
  CHECK(s.hello == "hello from a session\n");
  CHECK(s.big_equal);
  CHECK(s.missing_errno == ENOENT);
  CHECK(s.write_errno == EROFS);
  CHECK_FALSE(is_ossuring_mount(dir));
  std::filesystem::remove(dir);
}

TEST_CASE("an unmount from outside ends run(); a supervisor gets the index, then the connection") {
  bucket b;
  filesystem fsys(b.mock, index_options());
  const std::string dir = mount_dir("umount");
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  reactor r;
  std::thread user;
  seen s;
  status end = r.run([&]() -> task<status> {
    result<index_stats> built = co_await fsys.build_index();
    REQUIRE(built.ok());
    auto opened =
        fuse::session::open(fsys, options_for(dir), nullptr, fuse::supervisor_link(sv[0]), nullptr);
    REQUIRE(opened.ok());
    fuse::session& sess = **opened;
    gate g;
    g.spawn([](fuse::session& ss, std::thread& t, const std::string& d, const std::string& big,
               seen& out) -> task<void> {
      status rs = co_await ss.ready();
      CHECK(rs.ok());
      t = std::thread([&d, &big, &out] {
        use_mount(d, big, out);
        CHECK(::umount2(d.c_str(), MNT_DETACH) == 0);
      });
    }(sess, user, dir, b.big, s));
    status st = co_await sess.run();
    co_await g.close();
    co_await fsys.close();
    co_return st;
  }());
  if (user.joinable()) {
    user.join();
  }
  CHECK(end.ok());
  CHECK(s.big_equal);
  CHECK_FALSE(is_ossuring_mount(dir));
  // The hand-off: one message each, the index image ('I') before the connection ('C').
  std::vector<char> types;
  char buf[512];
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
  for (;;) {
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    ssize_t n = ::recvmsg(sv[1], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) {
      break;
    }
    types.push_back(buf[0]);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      ::close(fd);
    }
  }
  ::close(sv[0]);
  ::close(sv[1]);
  CHECK(types == std::vector<char>{'I', 'C'});
  std::filesystem::remove(dir);
}

TEST_CASE("with a pool of two reactors the session serves through a clone channel as well") {
  bucket b;
  filesystem fsys(b.mock, index_options());
  const std::string dir = mount_dir("pool");
  reactor_pool pool(reactor_pool_config{.cpus = {0, 1}, .pin = false});
  std::thread user;
  std::atomic<int> wrong{0};
  std::vector<fs::fuse_channel_stats> channels;
  status end = pool.run_sync(0, [&]() -> task<status> {
    result<index_stats> built = co_await fsys.build_index();
    REQUIRE(built.ok());
    auto opened =
        fuse::session::open(fsys, options_for(dir), &pool, fuse::supervisor_link(), nullptr);
    REQUIRE(opened.ok());
    fuse::session& sess = **opened;
    gate g;
    g.spawn([](fuse::session& ss, std::thread& t, const std::string& d, const std::string& big,
               std::atomic<int>& bad) -> task<void> {
      status rs = co_await ss.ready();
      CHECK(rs.ok());
      t = std::thread([&d, &big, &bad] {
        // Parallel readers, so that both channels read requests; every byte is checked.
        std::vector<std::thread> readers;
        for (int w = 0; w < 4; ++w) {
          readers.emplace_back([&] {
            for (int i = 0; i < 8; ++i) {
              int fd = ::open((d + "/sub/big.bin").c_str(), O_RDONLY | O_DIRECT);
              std::vector<char> buf(big.size());
              size_t got = 0;
              ssize_t n;
              while (fd >= 0 && (n = ::pread(fd, buf.data() + got, buf.size() - got,
                                             static_cast<off_t>(got))) > 0) {
                got += static_cast<size_t>(n);
              }
              if (fd < 0 || got != big.size() || std::string(buf.data(), got) != big) {
                ++bad;
              }
              if (fd >= 0) {
                ::close(fd);
              }
            }
          });
        }
        for (auto& th : readers) {
          th.join();
        }
        ::umount2(d.c_str(), MNT_DETACH);
      });
    }(sess, user, dir, b.big, wrong));
    status st = co_await sess.run();
    channels = sess.channel_stats();
    co_await g.close();
    co_await fsys.close();
    co_return st;
  });
  if (user.joinable()) {
    user.join();
  }
  pool.stop();
  CHECK(end.ok());
  CHECK(wrong.load() == 0);
  REQUIRE(channels.size() == 2);
  INFO("home " << channels[0].requests << ", clone " << channels[1].requests);
  CHECK(channels[0].requests > 0);
  CHECK(channels[1].requests > 0);
  std::filesystem::remove(dir);
}

int main(int argc, char** argv) {
  if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
    std::fprintf(stderr, "SKIP: needs root and /dev/fuse\n");
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
