// fuse_clones: cloning the session fd per reactor, relaying handlers to the home reactor.
#include "fs/fuse/clones.hh"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "core/log.hh"
#include "core/net.hh"
#include "fs/fuse/abi.hh"
#include "fs/fuse/ring.hh"

namespace ossuring::fs {

struct fuse_clones::state {
  explicit state(reactor_pool& p)
      : pool(p),
        slots(p.size(), nullptr),
        stop_requested(p.size(), 0),
        requests(new std::atomic<uint64_t>[p.size()]),
        fds(p.size()),
        joined(p.size(), 0) {
    for (unsigned i = 0; i < p.size(); ++i) {
      requests[i].store(0, std::memory_order_relaxed);
    }
  }
  reactor_pool& pool;
  // Element k is touched only on reactor k (distinct bytes: no word shared between threads).
  std::vector<fuse_channel*> slots;
  std::vector<char> stop_requested;
  // Written by the channel of reactor k, read by the stats on the home reactor.
  std::unique_ptr<std::atomic<uint64_t>[]> requests;
  // Home reactor only: the clone fds, closed once their channels have ended, and which clones
  // ever served (for the stats, which outlive the fds).
  std::vector<unique_fd> fds;
  std::vector<char> joined;
  // Home reactor only: the CPU whose queue clone k registers ring entries for, or -1.
  std::vector<int> ring_cpu = std::vector<int>(pool.size(), -1);
  // Written by the ring entries of reactor k, read by the stats on the home reactor.
  std::unique_ptr<std::atomic<uint64_t>[]> ring_requests =
      std::make_unique<std::atomic<uint64_t>[]>(pool.size());
};

namespace {

// Hands an INTERRUPT that channel `from` could not match to every other channel.
std::function<void(uint64_t, uint64_t)> make_router(std::shared_ptr<fuse_clones::state> st,
                                                    unsigned from) {
  return [st = std::move(st), from](uint64_t unique, uint64_t target) {
    for (unsigned j = 0; j < st->slots.size(); ++j) {
      if (j == from) {
        continue;
      }
      st->pool.at(j).post([st, j, unique, target] {
        if (fuse_channel* c = st->slots[j]) {
          c->interrupt(unique, target);
        }
      });
    }
  };
}

// A relayed request's link to its handler on the home reactor; touched only there.
struct relay_call {
  abort_source* abort = nullptr;
  bool aborted = false;
};

// The dispatcher of a clone channel: the handler runs on the home reactor, the reply is written
// here, on the fd the request was read from.
class relay final : public fuse_dispatcher {
 public:
  relay(reactor_pool& pool, unsigned home, int home_fd, fuse_dispatcher& handler,
        std::shared_ptr<fuse_clones::state> st)
      : _pool(pool), _home(home), _home_fd(home_fd), _handler(handler), _st(std::move(st)) {}

  task<void> handle(fuse_channel& ch, fuse_request& req) override {
    auto call = std::make_shared<relay_call>();
    reactor& home = _pool.at(_home);
    abort_subscription on_abort;
    on_abort.subscribe(req.abort, [&home, call] {
      home.post([call] {
        call->aborted = true;
        if (call->abort) {
          call->abort->request_abort();
        }
      });
    });
    // Written on the home reactor while this coroutine waits (the post orders it before we read
    // it). The awaiter is built in its own statement (GCC 12, core/reactor_pool.hh). The reply
    // moves here whole: a READ's buffer is written to this fd without another copy.
    fuse_reply reply;
    auto relayed =
        _pool.submit_to(_home, [this, &req, &call, &reply] { return on_home(req, call, reply); });
    co_await relayed;
    on_abort.unlink();
    co_await ch.send(reply);
  }

  // DESTROY read on a clone ends the whole session, as on the home channel.
  void on_destroy() override {
    _pool.at(_home).post([st = _st, home = _home, h = &_handler] {
      if (fuse_channel* c = st->slots[home]) {  // null once the session is stopping
        h->on_destroy();
        c->stop();
      }
    });
  }

 private:
  task<void> on_home(fuse_request& req, std::shared_ptr<relay_call> call, fuse_reply& reply) {
    abort_source abort;
    call->abort = &abort;
    if (call->aborted) {
      abort.request_abort();
    }
    fuse_channel recorder(_home_fd, record_replies);
    abort_source* own = std::exchange(req.abort, &abort);
    std::exception_ptr failure;
    try {
      co_await _handler.handle(recorder, req);
    } catch (...) {
      failure = std::current_exception();
    }
    req.abort = own;
    call->abort = nullptr;
    if (failure) {
      std::rethrow_exception(failure);  // the clone's channel answers EIO
    }
    reply = recorder.take_recorded();
  }

  reactor_pool& _pool;
  unsigned _home;
  int _home_fd;
  fuse_dispatcher& _handler;
  std::shared_ptr<fuse_clones::state> _st;
};

}  // namespace

fuse_clones::fuse_clones(reactor_pool& pool, unsigned home, int session_fd, fuse_channel& home_ch,
                         fuse_dispatcher& handler)
    : _pool(pool),
      _home(home),
      _session_fd(session_fd),
      _home_ch(home_ch),
      _handler(handler),
      _st(std::make_shared<state>(pool)) {
  _home_ch.count_requests_into(&_st->requests[_home]);
}

fuse_clones::~fuse_clones() {
  _st->slots[_home] = nullptr;
  for (unique_fd& fd : _st->fds) {
    fd.reset();
  }
}

unsigned fuse_clones::start(const fuse_init_wishes& wishes, unsigned readers,
                            const fuse_ring_plan& ring) {
  if (_stopped) {
    return 1;
  }
  const fuse_session_params params = _home_ch.params();
  _st->slots[_home] = &_home_ch;
  _home_ch.set_interrupt_router(make_router(_st, _home));
  unsigned serving = 1;
  for (unsigned k = 0; k < _pool.size(); ++k) {
    if (k == _home) {
      continue;
    }
    unique_fd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK));
    uint32_t session = static_cast<uint32_t>(_session_fd);
    if (!fd || ::ioctl(fd.get(), abi::dev_ioc_clone, &session) != 0) {
      log_warn("fuse_clone_failed", {{"reactor", std::to_string(k)},
                                     {"error", std::strerror(errno)},
                                     {"effect", "this reactor reads no FUSE requests"}});
      continue;
    }
    const int raw = fd.get();
    _st->fds[k] = std::move(fd);
    _st->joined[k] = 1;
    ++serving;
    // One reactor per CPU registers its queue; the home reactor's CPU stays with home.
    const int cpu = _pool.cpu(k);
    if (ring.on && cpu >= 0 && cpu != _pool.cpu(_home) &&
        std::find(_st->ring_cpu.begin(), _st->ring_cpu.end(), cpu) == _st->ring_cpu.end()) {
      _st->ring_cpu[k] = cpu;
    }
    _clones.spawn([](fuse_clones& self, unsigned k, int fd, fuse_init_wishes w,
                     fuse_session_params p, unsigned n, int rc, fuse_ring_plan rp) -> task<void> {
      try {
        auto serving = self._pool.submit_to(k, [&self, k, fd, w, p, n, rc, rp] {
          return self.serve_clone(k, fd, w, p, n, rc, rp);
        });
        co_await serving;
      } catch (const std::exception& e) {  // reactor k is shutting down
        log_warn("fuse_clone_failed", {{"reactor", std::to_string(k)}, {"error", e.what()}});
      }
    }(*this, k, raw, wishes, params, readers, _st->ring_cpu[k], ring));
  }
  log_info("fuse_channels",
           {{"channels", std::to_string(serving)}, {"reactors", std::to_string(_pool.size())}});
  return serving;
}

task<void> fuse_clones::serve_clone(unsigned k, int fd, fuse_init_wishes wishes,
                                    fuse_session_params params, unsigned readers, int ring_cpu,
                                    fuse_ring_plan plan) {
  std::shared_ptr<state> st = _st;
  fuse_channel ch(fd, wishes);
  ch.adopt(params);
  ch.count_requests_into(&st->requests[k]);
  ch.set_interrupt_router(make_router(st, k));
  relay r(_pool, _home, _session_fd, _handler, st);
  st->slots[k] = &ch;
  if (st->stop_requested[k]) {
    ch.stop();
  }
  // Its entries serve through `ch` and `r`, which outlive them: the ring is awaited below.
  std::optional<fuse_uring> ring;
  if (ring_cpu >= 0) {
    ring.emplace(ch, fd, std::vector<uint16_t>{static_cast<uint16_t>(ring_cpu)}, plan.per_queue,
                 plan.payload, &st->ring_requests[k]);
    ring->start();
  }
  status end = co_await ch.run(r, readers);
  st->slots[k] = nullptr;
  if (!end.ok()) {
    log_warn("fuse_channel_ended", {{"reactor", std::to_string(k)}, {"error", end.err().message}});
  }
  if (ring) {
    co_await ring->wait();
  }
}

std::vector<uint16_t> fuse_clones::ring_queues() const {
  std::vector<uint16_t> out;
  for (int cpu : _st->ring_cpu) {
    if (cpu >= 0) {
      out.push_back(static_cast<uint16_t>(cpu));
    }
  }
  return out;
}

uint64_t fuse_clones::uring_requests() const {
  uint64_t sum = 0;
  for (unsigned k = 0; k < _pool.size(); ++k) {
    sum += _st->ring_requests[k].load(std::memory_order_relaxed);
  }
  return sum;
}

void fuse_clones::stop() {
  _stopped = true;
  _st->slots[_home] = nullptr;
  for (unsigned k = 0; k < _pool.size(); ++k) {
    if (k == _home || !_st->fds[k]) {
      continue;
    }
    _pool.at(k).post([st = _st, k] {
      st->stop_requested[k] = 1;
      if (fuse_channel* c = st->slots[k]) {
        c->stop();
      }
    });
  }
}

task<void> fuse_clones::wait() {
  co_await _clones.close();
  // No clone reads any more: their descriptors would only keep the connection alive, holding
  // processes with files open on the detached mount until the daemon exits.
  for (unsigned k = 0; k < _st->fds.size(); ++k) {
    if (k != _home) {
      _st->fds[k].reset();
    }
  }
}

std::vector<fuse_channel_stats> fuse_clones::stats() const {
  std::vector<fuse_channel_stats> out;
  for (unsigned k = 0; k < _pool.size(); ++k) {
    if (k == _home || _st->joined[k] != 0) {
      out.push_back({k, _pool.cpu(k), _st->requests[k].load(std::memory_order_relaxed),
                     _st->ring_requests[k].load(std::memory_order_relaxed)});
    }
  }
  return out;
}

}  // namespace ossuring::fs
