// The FUSE channel on a real kernel mount: INIT, lookups, readdir, reads, passthrough, unmount,
// and cloned channels on a reactor pool.
#define DOCTEST_CONFIG_IMPLEMENT
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/io.hh"
#include "core/reactor_pool.hh"
#include "fs/fuse/channel.hh"
#include "fs/fuse/clones.hh"
#include "fs/fuse/mount.hh"

using namespace ossuring;
using namespace ossuring::fs;

namespace {

const std::string hello_text = "hello from ossuring\n";

// A one-file file system: / and /hello. Serves READ itself or hands the kernel a backing file.
class hello_fs final : public fuse_dispatcher {
 public:
  explicit hello_fs(bool passthrough, int backing_fd) : _pt(passthrough), _backing_fd(backing_fd) {}
  std::atomic<int> reads{0};
  std::atomic<int> opens{0};
  bool passthrough_granted = false;

  void on_init(const fuse_session_params& p) override { passthrough_granted = p.passthrough; }

  static void fill_attr(fuse_attr& a, uint64_t ino) {
    std::memset(&a, 0, sizeof(a));
    a.ino = ino;
    if (ino == FUSE_ROOT_ID) {
      a.mode = S_IFDIR | 0755;
      a.nlink = 2;
    } else {
      a.mode = S_IFREG | 0644;
      a.nlink = 1;
      a.size = hello_text.size();
    }
    a.blksize = 4096;
  }

  task<void> handle(fuse_channel& ch, fuse_request& req) override {
    const auto& h = req.header;
    const char* args = reinterpret_cast<const char*>(req.args().data());
    switch (h.opcode) {
      case FUSE_LOOKUP: {
        if (h.nodeid != FUSE_ROOT_ID || std::strcmp(args, "hello") != 0) {
          co_await ch.reply_error(h.unique, ENOENT);
          co_return;
        }
        fuse_entry_out e{};
        e.nodeid = 2;
        e.attr_valid = 60;
        e.entry_valid = 60;
        fill_attr(e.attr, 2);
        co_await ch.reply_struct(h.unique, e);
        co_return;
      }
      case FUSE_GETATTR: {
        fuse_attr_out a{};
        a.attr_valid = 60;
        fill_attr(a.attr, h.nodeid);
        co_await ch.reply_struct(h.unique, a);
        co_return;
      }
      case FUSE_OPEN: {
        ++opens;
        fuse_open_out o{};
        // FOPEN_NOFLUSH spares the FLUSH round trip. Not FOPEN_KEEP_CACHE: with passthrough
        // (Linux 6.18) it made every read fail with EIO.
        o.open_flags = (1u << 5);
        if (_pt && passthrough_granted) {
          auto id = ch.backing_open(_backing_fd);
          REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.err().message));
          _backing_id = *id;
          o.open_flags |= (1u << 7);  // FOPEN_PASSTHROUGH
          reinterpret_cast<int32_t*>(&o.padding)[0] = *id;
        }
        co_await ch.reply_struct(h.unique, o);
        co_return;
      }
      case FUSE_READ: {
        ++reads;
        fuse_read_in in{};
        std::memcpy(&in, args, sizeof(in));
        size_t off = std::min<size_t>(in.offset, hello_text.size());
        size_t n = std::min<size_t>(in.size, hello_text.size() - off);
        iovec iov{const_cast<char*>(hello_text.data() + off), n};
        co_await ch.reply(h.unique, 0, std::span<const iovec>(&iov, 1));
        co_return;
      }
      case FUSE_OPENDIR:
      case FUSE_RELEASEDIR:
      case FUSE_FLUSH:
        co_await ch.reply_error(h.unique, h.opcode == FUSE_OPENDIR ? ENOSYS : 0);
        co_return;
      case FUSE_RELEASE:
        if (_backing_id >= 0) {
          ch.backing_close(_backing_id);
          _backing_id = -1;
        }
        co_await ch.reply_error(h.unique, 0);
        co_return;
      case FUSE_READDIR: {
        fuse_read_in in{};
        std::memcpy(&in, args, sizeof(in));
        std::vector<char> buf;
        if (in.offset == 0) {
          const char* name = "hello";
          size_t reclen = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + std::strlen(name));
          buf.resize(reclen);
          auto* d = reinterpret_cast<fuse_dirent*>(buf.data());
          d->ino = 2;
          d->off = 1;
          d->namelen = static_cast<uint32_t>(std::strlen(name));
          d->type = DT_REG;
          std::memcpy(d->name, name, d->namelen);
        }
        iovec iov{buf.data(), buf.size()};
        co_await ch.reply(h.unique, 0, std::span<const iovec>(&iov, buf.empty() ? 0 : 1));
        co_return;
      }
      case FUSE_FORGET:
      case FUSE_BATCH_FORGET:
        co_return;
      default:
        co_await ch.reply_error(h.unique, ENOSYS);
        co_return;
    }
  }

 private:
  bool _pt;
  int _backing_fd;
  int _backing_id = -1;
};

bool can_mount() {
  return ::geteuid() == 0 && ::access("/dev/fuse", R_OK | W_OK) == 0;
}

struct check_result {
  bool listed = false;
  std::string content;
  off_t size = -1;
  int missing_errno = 0;
  int read_errno = 0;
};

void run_mount(bool passthrough, hello_fs& fs_impl, check_result& out) {
  std::string dir = "/tmp/ossuring-fuse-test-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  reactor r;
  auto m = mount_fuse({.mountpoint = dir, .source = "test"});
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.err().message));
  fuse_channel ch(m->fd(), {.passthrough = passthrough, .readdirplus = false});
  std::thread user([&] {
    for (auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().filename() == "hello") {
        out.listed = true;
      }
    }
    struct stat st {};
    ::stat((dir + "/hello").c_str(), &st);
    out.size = st.st_size;
    int fd = ::open((dir + "/hello").c_str(), O_RDONLY);
    char buf[256];
    ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof(buf)) : -1;
    if (n > 0) {
      out.content.assign(buf, static_cast<size_t>(n));
    } else {
      out.read_errno = n < 0 ? errno : 0;
    }
    if (fd >= 0) {
      ::close(fd);
    }
    if (::stat((dir + "/nope").c_str(), &st) != 0) {
      out.missing_errno = errno;
    }
    (void)m->unmount();
  });
  status st = r.run(ch.run(fs_impl));
  user.join();
  CHECK(st.ok());
  std::filesystem::remove(dir);
}

}  // namespace

TEST_CASE("a kernel mount served by the channel lists, stats and reads a file") {
  hello_fs fs_impl(false, -1);
  check_result res;
  run_mount(false, fs_impl, res);
  CHECK(res.listed);
  CHECK(res.size == static_cast<off_t>(hello_text.size()));
  CHECK(res.content == hello_text);
  CHECK(res.missing_errno == ENOENT);
  CHECK(fs_impl.reads.load() >= 1);
}

TEST_CASE("with passthrough granted the kernel reads the backing file without READ requests") {
  std::string backing = "/tmp/ossuring-backing-" + std::to_string(::getpid());
  {
    std::ofstream f(backing);
    f << hello_text;
  }
  int fd = ::open(backing.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  hello_fs fs_impl(true, fd);
  check_result res;
  run_mount(true, fs_impl, res);
  ::close(fd);
  ::unlink(backing.c_str());
  REQUIRE(fs_impl.passthrough_granted);
  INFO("read_errno=" << res.read_errno);
  CHECK(res.content == hello_text);
  CHECK(fs_impl.opens.load() == 1);
  CHECK(fs_impl.reads.load() == 0);
}

TEST_CASE("cloned channels on two reactors share one session and reply on their own fds") {
  std::string dir = "/tmp/ossuring-fuse-clones-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  hello_fs fs_impl(false, -1);
  reactor_pool pool(reactor_pool_config{.cpus = {0, 1}, .pin = false});
  auto m = mount_fuse({.mountpoint = dir, .source = "test"});
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.err().message));
  std::atomic<bool> cloned{false};
  std::atomic<int> wrong{0};
  std::vector<fuse_channel_stats> per_channel;
  std::thread user([&] {
    while (!cloned.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Misses are never cached by hello_fs: each stat is one LOOKUP, spread over the channels.
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
      workers.emplace_back([&, w] {
        struct stat st {};
        for (int i = 0; i < 1500; ++i) {
          std::string missing = dir + "/nope-" + std::to_string(w) + "-" + std::to_string(i);
          if (::stat(missing.c_str(), &st) == 0 || errno != ENOENT) {
            ++wrong;
          }
          if (i % 50 == 0) {
            int fd = ::open((dir + "/hello").c_str(), O_RDONLY);
            char buf[64];
            ssize_t n = fd >= 0 ? ::pread(fd, buf, sizeof(buf), 0) : -1;
            if (n != static_cast<ssize_t>(hello_text.size()) ||
                std::string(buf, static_cast<size_t>(n)) != hello_text) {
              ++wrong;
            }
            if (fd >= 0) {
              ::close(fd);
            }
          }
        }
      });
    }
    for (auto& t : workers) {
      t.join();
    }
    (void)m->unmount();
  });
  status end = pool.run_sync(0, [&]() -> task<status> {
    fuse_channel ch(m->fd(), {.passthrough = false, .readdirplus = false});
    fuse_clones clones(pool, 0, m->fd(), ch, fs_impl);
    gate g;
    g.spawn([](fuse_channel& c, fuse_clones& cl, std::atomic<bool>& done) -> task<void> {
      while (c.params().kernel_major == 0) {
        co_await sleep_for(std::chrono::milliseconds(5));
      }
      CHECK(cl.start({.passthrough = false, .readdirplus = false}, 4) == 2);
      done = true;
    }(ch, clones, cloned));
    status st = co_await ch.run(fs_impl);
    clones.stop();
    co_await clones.wait();
    co_await g.close();
    per_channel = clones.stats();
    co_return st;
  });
  user.join();
  pool.stop();
  std::filesystem::remove(dir);
  CHECK(end.ok());
  CHECK(wrong.load() == 0);
  REQUIRE(per_channel.size() == 2);
  INFO("home " << per_channel[0].requests << ", clone " << per_channel[1].requests);
  CHECK(per_channel[0].requests > 0);
  CHECK(per_channel[1].requests > 0);
  CHECK(per_channel[0].requests + per_channel[1].requests >= 6000);
}

int main(int argc, char** argv) {
  if (!can_mount()) {
    std::fprintf(stderr, "SKIP: needs root and /dev/fuse\n");
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
