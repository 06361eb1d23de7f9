// core_bench: loopback echo round trips/s and task switches/s on one reactor, next to a
// blocking-socket baseline measured in the same run. Not a test: it prints numbers.
//
// Usage: core_bench [--seconds S] [--size BYTES]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/io.hh"
#include "core/net.hh"
#include "core/reactor.hh"
#include "core/task.hh"

using namespace ossuring;
using clock_type = std::chrono::steady_clock;

namespace {

struct settings {
  double seconds = 1.0;
  size_t size = 64;
};

double elapsed_s(clock_type::time_point since) {
  return std::chrono::duration<double>(clock_type::now() - since).count();
}

// ---- echo on the reactor -----------------------------------------------------------------

struct echo_run {
  clock_type::time_point deadline;
  uint64_t round_trips = 0;
  bool failed = false;
};

task<void> reactor_echo_server(unique_fd fd, size_t size) {
  std::vector<char> buf(size);
  for (;;) {
    size_t got = 0;
    while (got < size) {
      int n = co_await recv(fd.get(), buf.data() + got, size - got);
      if (n <= 0) {
        co_return;
      }
      got += static_cast<size_t>(n);
    }
    int w = co_await send(fd.get(), buf.data(), size);
    if (w != static_cast<int>(size)) {
      co_return;
    }
  }
}

task<void> accept_loop(acceptor* acc, gate* g, size_t size) {
  for (;;) {
    result<unique_fd> fd = co_await acc->accept();
    if (!fd.ok()) {
      co_return;
    }
    int one = 1;
    ::setsockopt(fd->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    g->spawn(reactor_echo_server(std::move(*fd), size));
  }
}

task<void> reactor_echo_client(uint16_t port, size_t size, echo_run* run) {
  result<unique_fd> fd = co_await tcp_connect("127.0.0.1", port);
  if (!fd.ok()) {
    run->failed = true;
    co_return;
  }
  std::vector<char> out(size, 'x');
  std::vector<char> in(size);
  while (clock_type::now() < run->deadline) {
    for (int batch = 0; batch < 64; ++batch) {
      if (co_await send(fd->get(), out.data(), size) != static_cast<int>(size)) {
        run->failed = true;
        co_return;
      }
      size_t got = 0;
      while (got < size) {
        int n = co_await recv(fd->get(), in.data() + got, size - got);
        if (n <= 0) {
          run->failed = true;
          co_return;
        }
        got += static_cast<size_t>(n);
      }
      ++run->round_trips;
    }
  }
}

task<double> reactor_echo(int connections, const settings& s) {
  auto addr = parse_numeric_address("127.0.0.1", 0);
  result<unique_fd> listener = tcp_listen(*addr);
  if (!listener.ok()) {
    co_return -1;
  }
  uint16_t port = local_address(listener->get()).port();
  acceptor acc(listener->get());
  gate servers;
  gate accepting;
  accepting.spawn(accept_loop(&acc, &servers, s.size));
  echo_run run;
  auto start = clock_type::now();
  run.deadline = start + std::chrono::duration_cast<clock_type::duration>(
                             std::chrono::duration<double>(s.seconds));
  gate clients;
  for (int i = 0; i < connections; ++i) {
    clients.spawn(reactor_echo_client(port, s.size, &run));
  }
  co_await clients.close();
  double secs = elapsed_s(start);
  co_await acc.close();
  co_await accepting.close();
  co_await servers.close();
  co_return run.failed ? -1 : static_cast<double>(run.round_trips) / secs;
}

// ---- echo with blocking sockets: one client thread, one server thread --------------------

bool full_io(int fd, char* buf, size_t size, bool sending) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = sending ? ::send(fd, buf + done, size - done, MSG_NOSIGNAL)
                        : ::recv(fd, buf + done, size - done, 0);
    if (n <= 0) {
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

double blocking_echo(int connections, const settings& s) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(lfd, 1024) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return -1;
  }
  std::vector<int> client_fds;
  std::vector<int> server_fds;
  int one = 1;
  for (int i = 0; i < connections; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      return -1;
    }
    int sfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    ::setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    client_fds.push_back(c);
    server_fds.push_back(sfd);
  }
  ::close(lfd);
  // The server answers each connection in turn; the client sends one message on every
  // connection, then reads every answer (so 64 connections keep 64 messages in flight).
  std::thread server([&] {
    std::vector<char> buf(s.size);
    for (;;) {
      for (int fd : server_fds) {
        if (!full_io(fd, buf.data(), s.size, false) || !full_io(fd, buf.data(), s.size, true)) {
          return;
        }
      }
    }
  });
  std::vector<char> out(s.size, 'x');
  std::vector<char> in(s.size);
  uint64_t round_trips = 0;
  auto start = clock_type::now();
  bool failed = false;
  while (elapsed_s(start) < s.seconds && !failed) {
    for (int batch = 0; batch < 64 && !failed; ++batch) {
      for (int fd : client_fds) {
        failed |= !full_io(fd, out.data(), s.size, true);
      }
      for (int fd : client_fds) {
        failed |= !full_io(fd, in.data(), s.size, false);
      }
      round_trips += client_fds.size();
    }
  }
  double secs = elapsed_s(start);
  for (int fd : client_fds) {
    ::shutdown(fd, SHUT_RDWR);
  }
  server.join();
  for (int fd : client_fds) {
    ::close(fd);
  }
  for (int fd : server_fds) {
    ::close(fd);
  }
  return failed ? -1 : static_cast<double>(round_trips) / secs;
}

// ---- task switches -----------------------------------------------------------------------

task<int> trivially_completing(int v) {
  co_return v + 1;
}

task<double> sync_awaits_per_second(uint64_t n) {
  auto start = clock_type::now();
  uint64_t sum = 0;
  for (uint64_t i = 0; i < n; ++i) {
    sum += static_cast<uint64_t>(co_await trivially_completing(static_cast<int>(i & 0xff)));
  }
  double secs = elapsed_s(start);
  co_return sum == 0 ? -1 : static_cast<double>(n) / secs;
}

task<double> yields_per_second(uint64_t n) {
  auto start = clock_type::now();
  for (uint64_t i = 0; i < n; ++i) {
    co_await yield();
  }
  co_return static_cast<double>(n) / elapsed_s(start);
}

// A plain function call through an opaque pointer, the floor a task await is compared with.
int __attribute__((noinline)) plain_call(int v) {
  return v + 1;
}

double plain_calls_per_second(uint64_t n) {
  int (*volatile fn)(int) = plain_call;
  auto start = clock_type::now();
  uint64_t sum = 0;
  for (uint64_t i = 0; i < n; ++i) {
    sum += static_cast<uint64_t>(fn(static_cast<int>(i & 0xff)));
  }
  double secs = elapsed_s(start);
  return sum == 0 ? -1 : static_cast<double>(n) / secs;
}

void row(const char* name, double ours, double base, const char* base_name) {
  char b[32] = "-";
  char r[32] = "-";
  if (base > 0) {
    std::snprintf(b, sizeof(b), "%.0f", base);
    std::snprintf(r, sizeof(r), "%.2f", ours / base);
  }
  std::printf("%-34s %14.0f %14s %8s  %s\n", name, ours, b, r, base_name);
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      s.seconds = std::atof(argv[++i]);
    } else if (a == "--size" && i + 1 < argc) {
      s.size = static_cast<size_t>(std::atol(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: core_bench [--seconds S] [--size BYTES]\n");
      return 2;
    }
  }
  reactor r;
  std::printf("core_bench: %.1f s per case, %zu-byte messages, ring flags 0x%x\n", s.seconds,
              s.size, r.setup_flags());
  std::printf("%-34s %14s %14s %8s  %s\n", "case", "ossuring/s", "baseline/s", "ratio", "baseline");
  for (int conns : {1, 64}) {
    double ours = r.run(reactor_echo(conns, s));
    double base = blocking_echo(conns, s);
    std::string name = "echo round trips, " + std::to_string(conns) + " conn";
    row(name.c_str(), ours, base, "blocking send/recv, 2 threads");
  }
  const uint64_t awaits = 20'000'000;
  row("task await (completes at once)", r.run(sync_awaits_per_second(awaits)),
      plain_calls_per_second(awaits), "plain function call");
  row("yield() (through the ready queue)", r.run(yields_per_second(5'000'000)), 0, "");
  return 0;
}
