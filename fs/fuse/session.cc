// fs::fuse::session: mounting, serving, the work that waits for INIT, and the teardown.
#include "fs/fuse/session.hh"

#include <fcntl.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cerrno>

#include "core/io.hh"
#include "core/log.hh"

namespace ossuring::fs::fuse {

using namespace std::chrono_literals;

result<std::unique_ptr<session>> session::open(filesystem& fs, session_options opts,
                                               reactor_pool* pool, supervisor_link link,
                                               const restore_state* restore) {
  // A restarted worker serves the connection its supervisor kept open.
  result<fuse_mount> m =
      restore != nullptr
          ? result<fuse_mount>(fuse_mount(unique_fd(::fcntl(restore->fuse_fd, F_DUPFD_CLOEXEC, 0)),
                                          opts.mount.mountpoint, nullptr))
          : mount_fuse(opts.mount);
  if (!m.ok()) {
    return std::move(m).err();
  }
  return std::unique_ptr<session>(
      new session(fs, std::move(opts), pool, link, std::move(*m), restore));
}

session::session(filesystem& fs, session_options opts, reactor_pool* pool, supervisor_link link,
                 fuse_mount m, const restore_state* restore)
    : _fs(fs),
      _opts(std::move(opts)),
      _pool(pool),
      _link(link),
      _wishes(wishes()),
      _mount(std::move(m)),
      _ch(_mount.fd(), _wishes),
      _ops(fs, _opts.mode) {
  // A refresh that changed the index makes the kernel look its cached names up again (and a
  // supervisor keeps the new index for a restart).
  _fs.on_index_changed([this] {
    hand_over_index();
    return _ch.notify_inc_epoch();
  });
  if (restore != nullptr) {
    resume(*restore);
  }
  if (_pool != nullptr && _pool->size() > 1) {
    _clones.emplace(*_pool, _opts.home_reactor, _mount.fd(), _ch, _ops);
  }
}

session::~session() {
  _fs.on_index_changed(nullptr);
}

fuse_init_wishes session::wishes() const {
  fuse_init_wishes w;
  w.passthrough = _opts.mode == open_mode::passthrough;
  // Writes need OPEN (a handle per writer, FLUSH on close): a writable mount reads with
  // handles too.
  w.no_open = _opts.mode == open_mode::noopen && _opts.mount.read_only;
  w.readdirplus = _opts.readdirplus;
  w.over_io_uring = _opts.fuse_uring;
  return w;
}

void session::resume(const restore_state& r) {
  // The kernel sent INIT once, to the worker that died: take what it settled, and have the
  // requests that worker read but never answered queued again.
  _ch.adopt(r.params);
  _ops.on_init(r.params);
  if (status st = _ch.notify_resend(); !st) {
    log_warn("fuse_resend_failed", {{"error", st.err().message}});
  }
  log_warn("mount_resumed", {{"mountpoint", _opts.mount.mountpoint},
                             {"restarts", std::to_string(r.restarts)},
                             {"index_base", std::to_string(r.index_base)}});
}

task<status> session::ready() {
  co_await _ready.wait();
  co_return _ready_status;
}

void session::settle(status s) {
  if (!_ready.is_set()) {
    _ready_status = std::move(s);
    _ready.set();
  }
}

void session::stop() {
  // Detaching makes the channel's reads end (ENODEV); the descriptor stays open until run()
  // closes it after the last handler replied: closed here, its number could go to another
  // file (a socket, a staged file) that the aborted handlers' replies would be written into.
  if (status s = _mount.detach(); !s.ok()) {
    log_warn("unmount_failed", {{"error", s.err().message}});
  }
  _ch.stop();
}

task<status> session::run() {
  _tasks.spawn(after_init());
  status end = co_await _ch.run(_ops, _opts.readers);
  _ended.request_abort();
  if (!end.ok()) {
    log_error("fuse_channel_ended", {{"error", end.err().message}});
  }
  _fs.on_index_changed(nullptr);  // the session is over: nothing to tell the kernel
  if (_clones) {
    // Their handlers relay to this reactor, which keeps serving them until they have ended.
    _clones->stop();
    if (!_clones->ring_queues().empty()) {
      // Their ring entries end only with the connection, as the home reactor's do below.
      (void)_mount.unmount();
    }
    co_await _clones->wait();
  }
  (void)_mount.unmount();
  if (_uring) {
    // Ring entries end only with the connection: with files still open on the detached
    // mount, they go on serving them until the last one is closed (fs/fuse/ring.hh).
    if (_uring->live_entries() > 0) {
      log_info("fuse_uring_draining", {{"entries", std::to_string(_uring->live_entries())}});
    }
    co_await _uring->wait();
  }
  co_await _tasks.close();
  settle(make_error(ECANCELED, "the session ended before the mount was ready"));
  co_return end;
}

task<void> session::after_init() {
  const auto deadline = std::chrono::steady_clock::now() + _opts.init_timeout;
  while (_ch.params().kernel_major == 0 && !_ended.aborted() &&
         std::chrono::steady_clock::now() < deadline) {
    co_await sleep_for(10ms, &_ended);
  }
  // From here on no co_await: the checks below and what they start are one step, so nothing
  // starts after the teardown looked for it (a ring would outlive the connection's fd).
  if (_ended.aborted()) {
    settle(make_error(ECANCELED, "the session ended before the mount was ready"));
    co_return;
  }
  if (_ch.params().kernel_major == 0) {
    settle(make_error(ETIMEDOUT, "the kernel did not send FUSE INIT within " +
                                     std::to_string(_opts.init_timeout.count() / 1000) + " s"));
    co_return;
  }
  if (_clones) {
    fuse_ring_plan plan;
    if (_ch.params().over_io_uring) {
      plan = {true, _opts.uring_entries_per_queue, uring_payload()};
    }
    _clones->start(_wishes, _opts.readers, plan);
  }
  start_ring();
  hand_off();
  settle(status{});
}

size_t session::uring_payload() const {
  const fuse_session_params& p = _ch.params();
  return std::max<size_t>({8192, p.max_write, size_t{p.max_pages} * 4096});
}

void session::start_ring() {
  const fuse_session_params& p = _ch.params();
  if (p.over_io_uring) {
    const std::vector<uint16_t> elsewhere =
        _clones ? _clones->ring_queues() : std::vector<uint16_t>{};
    std::vector<uint16_t> queues;
    for (int cpu = 0; cpu < ::get_nprocs_conf(); ++cpu) {
      if (std::find(elsewhere.begin(), elsewhere.end(), cpu) == elsewhere.end()) {
        queues.push_back(static_cast<uint16_t>(cpu));
      }
    }
    log_info("fuse_uring_queues", {{"home", std::to_string(queues.size())},
                                   {"other_reactors", std::to_string(elsewhere.size())}});
    _uring.emplace(_ch, _mount.fd(), std::move(queues), _opts.uring_entries_per_queue,
                   uring_payload());
    _uring->start();
  } else if (_opts.fuse_uring && _wishes.over_io_uring) {
    log_warn("fuse_uring_unavailable",
             {{"reason",
               "the kernel did not offer FUSE over io_uring "
               "(Linux 6.14+ with /sys/module/fuse/parameters/enable_uring=Y)"}});
  }
}

void session::hand_off() {
  if (!_link.active()) {
    return;
  }
  if (_ch.params().kernel_minor < 40) {
    // Without FUSE_NOTIFY_RESEND (7.40, Linux 6.9) the requests a dead worker had read would
    // wait forever: such a crash ends the mount, as without a supervisor.
    log_warn("supervise_unavailable",
             {{"reason", "the kernel's FUSE lacks NOTIFY_RESEND (Linux 6.9+ needed)"}});
    return;
  }
  // The index first: a supervisor holding a connection always has the index its inode numbers
  // name. From the connection on, the supervisor restarts a worker that dies.
  if (hand_over_index()) {
    if (status st = _link.send_connection(_mount.fd(), _ch.params()); !st) {
      log_warn("supervisor_connection_not_sent", {{"error", st.err().message}});
    }
  }
}

bool session::hand_over_index() {
  if (!_link.active()) {
    return false;
  }
  std::vector<std::byte> image = _fs.current_index().serialize(_opts.bucket, _opts.prefix);
  status st = _link.send_index(image, _fs.current_index_base(), _fs.current_index_provisional());
  if (!st) {
    _link.give_up("the index could not be handed over: " + st.err().message);
    return false;
  }
  return true;
}

std::vector<fuse_channel_stats> session::channel_stats() const {
  const uint64_t home_ring = _uring ? _uring->requests() : 0;
  if (_clones) {
    std::vector<fuse_channel_stats> out = _clones->stats();
    for (fuse_channel_stats& c : out) {
      if (c.reactor == _opts.home_reactor) {
        c.uring_requests = home_ring;
      }
    }
    return out;
  }
  return {{_opts.home_reactor, _pool ? _pool->cpu(_opts.home_reactor) : -1, _ch.requests_read(),
           home_ring}};
}

}  // namespace ossuring::fs::fuse
