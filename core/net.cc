// TCP on the reactor: address parsing, resolver thread, listen/connect, multishot accept.
#include "core/net.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ossuring {

uint16_t socket_address::port() const {
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string socket_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "?";
}

result<std::pair<std::string, uint16_t>> split_host_port(std::string_view s) {
  std::string host;
  std::string_view port_part;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return make_error(EINVAL, "bad address '" + std::string(s) + "': want [V6]:PORT");
    }
    host = std::string(s.substr(1, close - 1));
    port_part = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      return make_error(EINVAL, "bad address '" + std::string(s) + "': want HOST:PORT");
    }
    host = std::string(s.substr(0, colon));
    port_part = s.substr(colon + 1);
  }
  if (port_part.empty() || port_part.size() > 5) {
    return make_error(EINVAL, "bad port in '" + std::string(s) + "'");
  }
  unsigned port = 0;
  for (char c : port_part) {
    if (c < '0' || c > '9') {
      return make_error(EINVAL, "bad port in '" + std::string(s) + "'");
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) {
    return make_error(EINVAL, "port out of range in '" + std::string(s) + "'");
  }
  return std::pair<std::string, uint16_t>{host, static_cast<uint16_t>(port)};
}

result<socket_address> parse_numeric_address(const std::string& host, uint16_t port) {
  socket_address a;
  if (host.empty() || host == "0.0.0.0" || host == "*") {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    a.length = sizeof(sockaddr_in);
    return a;
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
    return a;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    a.length = sizeof(sockaddr_in6);
    return a;
  }
  return make_error(EINVAL, "not a numeric address: " + host);
}

namespace {

// One resolver thread for the process: getaddrinfo blocks, reactors must not.
class resolver_thread {
 public:
  struct job {
    std::string host;
    std::function<void(result<std::vector<socket_address>>)> done;
  };

  static resolver_thread& instance() {
    static resolver_thread r;
    return r;
  }

  void submit(job j) {
    {
      std::lock_guard lock(_mutex);
      _jobs.push_back(std::move(j));
    }
    _cv.notify_one();
  }

  ~resolver_thread() {
    {
      std::lock_guard lock(_mutex);
      _stop = true;
    }
    _cv.notify_one();
    if (_thread.joinable()) {
      _thread.join();
    }
  }

 private:
  resolver_thread() : _thread([this] { loop(); }) {}

  void loop() {
    for (;;) {
      job j;
      {
        std::unique_lock lock(_mutex);
        _cv.wait(lock, [this] { return _stop || !_jobs.empty(); });
        if (_stop) {
          return;
        }
        j = std::move(_jobs.front());
        _jobs.pop_front();
      }
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      int rc = getaddrinfo(j.host.c_str(), nullptr, &hints, &res);
      if (rc != 0 || !res) {
        std::string why = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
        j.done(make_error(EHOSTUNREACH, "cannot resolve " + j.host + ": " + why));
        continue;
      }
      std::vector<socket_address> out;
      for (addrinfo* ai = res; ai && out.size() < max_addresses; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(sockaddr_storage)) {
          continue;
        }
        socket_address a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.length = static_cast<socklen_t>(ai->ai_addrlen);
        out.push_back(a);
      }
      freeaddrinfo(res);
      j.done(std::move(out));
    }
  }

  // getaddrinfo answers each address once per socket type; more than this is never tried.
  static constexpr size_t max_addresses = 8;

  std::mutex _mutex;
  std::condition_variable _cv;
  std::deque<job> _jobs;
  bool _stop = false;
  std::thread _thread;
};

struct cache_entry {
  std::vector<socket_address> addrs;
  std::chrono::steady_clock::time_point expires;
};
thread_local std::map<std::string, cache_entry, std::less<>> t_resolve_cache;
std::atomic<int64_t> g_resolve_ttl_ms{60'000};

void set_port(socket_address& a, uint16_t port) {
  if (a.storage.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  } else if (a.storage.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  }
}

// Hands one host to the resolver thread and resumes the awaiting coroutine on its own reactor.
// The callback writes into the awaiter, which lives in the suspended coroutine's frame until
// the posted resumption runs, so the pointer it holds stays valid.
class lookup_awaiter {
 public:
  explicit lookup_awaiter(std::string host) : _host(std::move(host)) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    reactor* r = &reactor::local();
    resolver_thread::instance().submit(
        {_host, [this, r, h](result<std::vector<socket_address>> res) {
           _out.emplace(std::move(res));
           r->post([h] { h.resume(); });
         }});
  }
  result<std::vector<socket_address>> await_resume() { return std::move(*_out); }

 private:
  std::string _host;
  std::optional<result<std::vector<socket_address>>> _out;
};

}  // namespace

void set_resolve_ttl(std::chrono::milliseconds ttl) {
  g_resolve_ttl_ms = ttl.count();
}

void forget_resolved(std::string_view host) {
  if (auto it = t_resolve_cache.find(host); it != t_resolve_cache.end()) {
    t_resolve_cache.erase(it);
  }
}

task<result<std::vector<socket_address>>> resolve_all(std::string host, uint16_t port) {
  if (auto numeric = parse_numeric_address(host, port); numeric.ok() && !host.empty()) {
    co_return std::vector<socket_address>{*numeric};
  }
  auto now = std::chrono::steady_clock::now();
  if (auto it = t_resolve_cache.find(host);
      it != t_resolve_cache.end() && it->second.expires > now) {
    std::vector<socket_address> addrs = it->second.addrs;
    for (socket_address& a : addrs) {
      set_port(a, port);
    }
    co_return addrs;
  }
  // GCC 12 destroys a temporary awaiter with non-trivial members twice when it is built inside
  // the co_await expression (docs/contributing.md): the awaiter is named first.
  lookup_awaiter lookup(host);
  result<std::vector<socket_address>> res = co_await lookup;
  if (!res.ok()) {
    co_return res;
  }
  if (res->empty()) {
    co_return make_error(EHOSTUNREACH, "cannot resolve " + host + ": no usable address");
  }
  auto ttl = std::chrono::milliseconds(g_resolve_ttl_ms.load());
  if (ttl.count() > 0) {
    t_resolve_cache[host] = {*res, std::chrono::steady_clock::now() + ttl};
  }
  for (socket_address& a : *res) {
    set_port(a, port);
  }
  co_return res;
}

task<result<socket_address>> resolve(std::string host, uint16_t port) {
  result<std::vector<socket_address>> all = co_await resolve_all(std::move(host), port);
  if (!all.ok()) {
    co_return std::move(all).err();
  }
  co_return all->front();
}

result<unique_fd> tcp_listen(const socket_address& addr, int backlog, bool reuse_port) {
  unique_fd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return make_error(errno, std::string("socket: ") + std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  }
  if (::bind(fd.get(), addr.get(), addr.length) != 0) {
    return make_error(errno, "bind " + addr.to_string() + ": " + std::strerror(errno));
  }
  if (::listen(fd.get(), backlog) != 0) {
    return make_error(errno, "listen " + addr.to_string() + ": " + std::strerror(errno));
  }
  return fd;
}

socket_address local_address(int fd) {
  socket_address a;
  a.length = sizeof(a.storage);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length);
  return a;
}

task<result<unique_fd>> tcp_connect(std::string host, uint16_t port, op_options opts) {
  result<std::vector<socket_address>> addrs = co_await resolve_all(host, port);
  if (!addrs.ok()) {
    co_return std::move(addrs).err();
  }
  // Addresses in getaddrinfo's order (RFC 6724: IPv6 first where it is routable); the next one
  // is tried when a connect fails, so a name with an unreachable family still connects.
  std::string failures;
  int last_errno = ECONNREFUSED;
  for (const socket_address& target : *addrs) {
    unique_fd fd(::socket(target.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_errno = errno;
      failures +=
          (failures.empty() ? "" : ", ") + target.to_string() + ": socket: " + std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = co_await connect(fd.get(), target.get(), target.length, opts);
    if (rc >= 0) {
      co_return fd;
    }
    last_errno = -rc;
    failures += (failures.empty() ? "" : ", ") + target.to_string() + ": " + std::strerror(-rc);
  }
  // The name may have moved (a failover, a changed record): ask again at the next connect
  // rather than keep dialling a dead address until the cache entry expires.
  forget_resolved(host);
  co_return make_error(last_errno, "connect " + host + " (" + failures + ")");
}

acceptor::~acceptor() {
  if (_armed) {
    detail::die_with_pending_completion("acceptor (close() was not awaited)");
  }
  for (int fd : _ready) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

void acceptor::arm() {
  if (_armed || _closing) {
    return;
  }
  reactor& r = reactor::local();
  io_uring_sqe* sqe = r.get_sqe();
  if (_multishot) {
    io_uring_prep_multishot_accept(sqe, _listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, _listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data(sqe, static_cast<completion*>(this));
  _armed = true;
  r.note_submitted();
}

void acceptor::complete(int res, uint32_t flags) noexcept {
  if (!(flags & IORING_CQE_F_MORE)) {
    _armed = false;
    reactor::local().note_settled();
  }
  if (_closing) {
    if (res >= 0) {
      ::close(res);
    }
    if (!_armed && _close_waiter) {
      std::exchange(_close_waiter, {}).resume();
    }
    return;
  }
  if (res == -EINVAL && _multishot) {
    // A kernel without multishot accept refuses the flag: fall back to one accept per call.
    _multishot = false;
    if (_waiter) {
      arm();
    }
    return;
  }
  if (res == -ECANCELED) {
    // The kernel ended the accept without close() asking (callers read ECANCELED as "the
    // acceptor was closed" and stop serving): take it as an end of the multishot, arm again.
    if (_waiter && !_armed) {
      arm();
    }
    return;
  }
  // Errors (EMFILE, ECONNABORTED, ...) are handed to the caller, who decides.
  _ready.push_back(res);
  wake();
}

void acceptor::wake() {
  if (_waiter) {
    std::exchange(_waiter, {}).resume();
  }
}

task<result<unique_fd>> acceptor::accept() {
  struct wait_ready {
    acceptor& a;
    bool await_ready() const noexcept { return !a._ready.empty() || a._closing; }
    void await_suspend(std::coroutine_handle<> h) noexcept { a._waiter = h; }
    void await_resume() const noexcept {}
  };
  for (;;) {
    if (_closing) {
      co_return make_error(ECANCELED, "acceptor closed");
    }
    if (!_ready.empty()) {
      int fd = _ready.front();
      _ready.pop_front();
      if (fd < 0) {
        co_return make_error(-fd, std::string("accept: ") + std::strerror(-fd));
      }
      co_return unique_fd(fd);
    }
    arm();
    co_await wait_ready{*this};
  }
}

task<void> acceptor::close() {
  _closing = true;
  if (_waiter) {
    // The pending accept() sees _closing and returns ECANCELED.
    reactor::local().schedule(std::exchange(_waiter, {}));
  }
  if (!_armed) {
    co_return;
  }
  io_uring_sqe* sqe = reactor::local().get_sqe();
  io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(static_cast<completion*>(this)), 0);
  io_uring_sqe_set_data(sqe, nullptr);
  struct wait_disarmed {
    acceptor& a;
    bool await_ready() const noexcept { return !a._armed; }
    void await_suspend(std::coroutine_handle<> h) noexcept { a._close_waiter = h; }
    void await_resume() const noexcept {}
  };
  co_await wait_disarmed{*this};
}

}  // namespace ossuring
