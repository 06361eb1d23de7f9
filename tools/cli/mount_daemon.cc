// The mount daemon: the OSS client, the file system and its index, then the FUSE session
// (fs/fuse/session.hh) with signals, refreshes, the control socket and the metrics endpoint
// around it, on one reactor or the home reactor of a pool.
//
// With --cpus (or resourceLimit) the daemon runs one reactor per listed CPU: reactor 0 is home
// (file system, OSS client, control socket, the session's channel); every other reactor serves a
// clone of the FUSE session (fs/fuse/clones.hh).
#include "tools/cli/mount_daemon.hh"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/io.hh"
#include "core/log.hh"
#include "core/reactor_pool.hh"
#include "core/signals.hh"
#include "fs/fuse/session.hh"
#include "tools/cli/client_setup.hh"
#include "tools/cli/control.hh"
#include "tools/cli/metrics_endpoint.hh"
#include "tools/cli/mount_setup.hh"
#include "tools/cli/mount_stats.hh"
#include "tools/cli/sd_notify.hh"

namespace ossuring::cli {

namespace {

using namespace std::chrono_literals;

// Tells the waiting parent how the start went: "ok\n" or an error line.
class readiness {
 public:
  explicit readiness(int fd) : _fd(fd) {}
  // Also tells systemd (Type=notify, NOTIFY_SOCKET) that the mount is ready.
  void ok() {
    if (status st = sd_notify_send(std::getenv("NOTIFY_SOCKET"), "READY=1\nSTATUS=mounted\n");
        !st) {
      log_warn("sd_notify_failed", {{"error", st.err().message}});
    }
    send("ok\n");
  }
  void fail(const std::string& why) { send("error " + why + "\n"); }

 private:
  void send(const std::string& s) {
    if (_fd < 0 && s != "ok\n") {
      std::fprintf(stderr, "ossuring mount: %s", s.substr(6).c_str());  // foreground
    }
    if (_fd >= 0) {
      ssize_t n = ::write(_fd, s.data(), s.size());
      (void)n;
      ::close(_fd);
      _fd = -1;
    }
  }
  int _fd;
};

// Stops the daemon on SIGINT/SIGTERM: the session detaches the mount, which ends the channel's
// reads (ENODEV); its descriptor is closed after the last handler replied.
task<void> watch_signals(int sfd, fs::fuse::session& s, abort_source& stop) {
  signalfd_siginfo info{};
  int n = co_await ossuring::read(sfd, &info, sizeof(info), static_cast<uint64_t>(-1),
                                  {.abort = &stop});
  if (n != static_cast<int>(sizeof(info))) {
    co_return;
  }
  log_info("signal", {{"signo", std::to_string(info.ssi_signo)}, {"action", "unmount"}});
  s.stop();
}

// SIGINT/SIGTERM before the mount is served (indexing, the lazy probe): the listings in flight
// end at once (ECANCELED) and the mount is given up, instead of the signal waiting for an index
// build that may take minutes. `stop` ends the watch once the mount is ready.
task<void> watch_signals_early(int sfd, fs::filesystem& fsys, abort_source& probe,
                               abort_source& stop, bool& signalled) {
  signalfd_siginfo info{};
  op_options o{.abort = &stop};
  int n = co_await ossuring::read(sfd, &info, sizeof(info), static_cast<uint64_t>(-1), o);
  if (n != static_cast<int>(sizeof(info))) {
    co_return;
  }
  log_info("signal", {{"signo", std::to_string(info.ssi_signo)}, {"action", "stop indexing"}});
  signalled = true;
  fsys.abort_listings();
  probe.request_abort();
}

// Re-lists the index every `interval` (0: never), and once at the start when `soon` (a reused
// index to confirm). A failed refresh is logged by the file system and retried next time.
task<void> refresh_loop(fs::filesystem& fsys, std::chrono::seconds interval, bool soon,
                        abort_source& stop) {
  if (soon) {
    result<fs::index_stats> r = co_await fsys.refresh_index();
    (void)r;
  }
  while (interval.count() > 0 && !stop.aborted()) {
    int slept = co_await sleep_for(interval, &stop);
    if (slept != 0) {
      break;  // unmounting
    }
    result<fs::index_stats> r = co_await fsys.refresh_index();
    (void)r;
  }
}

// Reads a restored worker's index image (a memfd from the supervisor).
result<fs::index> restored_index(const mount_config& cfg, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return make_error(errno, std::string("index image: ") + std::strerror(errno));
  }
  std::vector<std::byte> image(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < image.size()) {
    ssize_t n = ::pread(fd, image.data() + done, image.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return make_error(EIO, "index image: short read");
    }
    done += static_cast<size_t>(n);
  }
  return fs::index::deserialize(image, cfg.bucket, cfg.prefix);
}

fs::fuse::session_options session_options_of(const mount_config& cfg) {
  fs::fuse::session_options o;
  o.mount.mountpoint = cfg.mountpoint;
  o.mount.source = "oss://" + cfg.bucket + "/" + cfg.prefix;
  o.mount.read_only = cfg.read_only;
  o.mount.allow_other = cfg.allow_other;
  o.mount.default_permissions = cfg.default_permissions;
  o.mode = parse_open_mode(cfg.open_mode);
  o.readdirplus = cfg.readdirplus;
  o.fuse_uring = cfg.fuse_uring;
  o.bucket = cfg.bucket;
  o.prefix = cfg.prefix;
  return o;
}

// Tells the waiting parent (and systemd) that the mount is ready once the session is.
task<void> report_ready(fs::fuse::session& s, readiness& r, const mount_config& cfg) {
  status st = co_await s.ready();
  if (!st.ok()) {
    // ECANCELED: the session ended before INIT; the daemon's exit tells the parent.
    if (st.err().code != ECANCELED) {
      r.fail(st.err().message);
    }
    co_return;
  }
  log_info("mounted", {{"mountpoint", cfg.mountpoint},
                       {"bucket", cfg.bucket},
                       {"prefix", cfg.prefix},
                       {"mode", cfg.mode},
                       {"passthrough", s.params().passthrough ? "yes" : "no"}});
  r.ok();
}

// One daemon's mount, on the home reactor: the OSS client, the file system and its index, then
// the FUSE session with the control socket, metrics endpoint, signals and refreshes around it.
class mount_daemon {
 public:
  mount_daemon(const mount_config& cfg, readiness& ready, int sfd, reactor_pool* pool,
               fs::fuse::supervisor_link link, const fs::fuse::restore_state* restore)
      : _cfg(cfg), _ready(ready), _sfd(sfd), _pool(pool), _link(link), _restore(restore) {}

  task<int> run();

 private:
  // Before the mount: the index (restored, loaded or built) or, in lazy mode, a probe listing.
  // SIGINT/SIGTERM meanwhile end the listing at once and give the mount up instead of waiting
  // for an index build that may take minutes. False (the reason reported) to give up.
  task<bool> prepare(fs::filesystem& fsys, oss_session& oss);
  bool restore_index(fs::filesystem& fsys);
  task<bool> build_index(fs::filesystem& fsys);
  task<bool> probe(oss_session& oss, abort_source& abort);
  task<int> serve(fs::filesystem& fsys, oss_session& oss);

  const mount_config& _cfg;
  readiness& _ready;
  const int _sfd;
  reactor_pool* const _pool;
  const fs::fuse::supervisor_link _link;
  const fs::fuse::restore_state* const _restore;
  const std::chrono::steady_clock::time_point _started = std::chrono::steady_clock::now();
  bool _index_reused = false;  // confirmed by a refresh right after the mount serves
};

task<int> mount_daemon::run() {
  result<std::unique_ptr<oss_session>> session = make_oss_session(_cfg);
  if (!session.ok()) {
    _ready.fail(session.err().describe());
    co_return 1;
  }
  oss_session& oss = **session;
  fs::filesystem fsys(*oss.client, make_fs_options(_cfg), make_blob_store(_cfg));
  int rc = 1;
  if (co_await prepare(fsys, oss)) {
    rc = co_await serve(fsys, oss);
  } else {
    // A mount given up after its index was built (a signal meanwhile) still has the index
    // file's write in its background group.
    co_await fsys.close();
  }
  co_await oss.close();
  co_return rc;
}

task<bool> mount_daemon::prepare(fs::filesystem& fsys, oss_session& oss) {
  // The first listing rides out throttling for up to a minute a request instead of refusing
  // the mount after the run-time attempts (docs/configuration.md "--retries").
  const oss::retry_policy run_retry = oss.client->config().retry;
  oss.client->set_retry(oss::startup_retry(run_retry));
  abort_source early_stop;   // ends the early signal watch
  abort_source early_abort;  // fired by it: ends the lazy probe
  bool signalled = false;
  gate early;
  early.spawn(watch_signals_early(_sfd, fsys, early_abort, early_stop, signalled));
  indexing_marker indexing(_cfg.mountpoint);  // lets `ossuring umount` stop the listing
  bool ok = false;
  if (_restore != nullptr) {
    ok = restore_index(fsys);
  } else if (fsys.options().mode == fs::fs_mode::index) {
    ok = co_await build_index(fsys);
  } else {
    ok = co_await probe(oss, early_abort);
  }
  if (ok) {
    oss.client->set_retry(run_retry);
    indexing.remove();
  }
  early_stop.request_abort();
  co_await early.close();
  if (ok && signalled) {
    _ready.fail("stopped by a signal before the mount was ready");
    ok = false;
  }
  co_return ok;
}

bool mount_daemon::restore_index(fs::filesystem& fsys) {
  // The index the dead worker served, at its inode base: the kernel's inode numbers keep
  // naming the same objects. Never a new listing, whose numbers could name others.
  result<fs::index> idx = _restore->index_fd >= 0
                              ? restored_index(_cfg, _restore->index_fd)
                              : result<fs::index>(make_error(ENOENT, "no index image"));
  if (!idx.ok()) {
    log_error("mount_resume_failed", {{"error", idx.err().message}});
    return false;
  }
  fsys.restore_index(std::move(*idx), {.base = _restore->index_base,
                                       .provisional = _restore->index_provisional,
                                       .file = index_file(_cfg),
                                       .restarts = _restore->restarts});
  // An index the dead worker had reused from disk is confirmed by a refresh soon, as then.
  _index_reused = _restore->index_provisional;
  return true;
}

task<bool> mount_daemon::build_index(fs::filesystem& fsys) {
  const std::string idx_file = index_file(_cfg);
  // Not a conditional expression with two co_awaits: GCC 12 destroys its temporary twice.
  result<fs::index_stats> st = make_error(EINVAL, "no index");
  if (idx_file.empty()) {
    st = co_await fsys.build_index();
  } else {
    st = co_await fsys.load_or_build_index(idx_file, std::chrono::seconds(_cfg.index_max_age_s),
                                           &_index_reused);
  }
  if (!st.ok()) {
    _ready.fail("indexing oss://" + _cfg.bucket + "/" + _cfg.prefix +
                " failed: " + st.err().describe());
    co_return false;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - _started).count();
  // The file system logs index_built (with its requests) when it lists; this line says the
  // mount's index is ready, listed or reused, and how long that took.
  log_info("index_ready", {{"objects", std::to_string(st->objects)},
                           {"directories", std::to_string(st->directories)},
                           {"skipped_keys", std::to_string(st->skipped_keys)},
                           {"reused", _index_reused ? "yes" : "no"},
                           {"seconds", std::to_string(secs)}});
  co_return true;
}

task<bool> mount_daemon::probe(oss_session& oss, abort_source& abort) {
  // Lazy mode: one cheap listing proves the endpoint, bucket and credentials now rather than
  // at the first `ls`.
  oss::list_request probe;
  probe.prefix = _cfg.prefix;
  probe.delimiter = "/";
  probe.max_keys = 1;
  result<oss::list_page> p = co_await oss.client->list_objects_v2(probe, &abort);
  if (!p.ok()) {
    _ready.fail("listing oss://" + _cfg.bucket + "/" + _cfg.prefix +
                " failed: " + p.err().describe());
    co_return false;
  }
  co_return true;
}

task<int> mount_daemon::serve(fs::filesystem& fsys, oss_session& oss) {
  result<std::unique_ptr<fs::fuse::session>> opened =
      fs::fuse::session::open(fsys, session_options_of(_cfg), _pool, _link, _restore);
  if (!opened.ok()) {
    _ready.fail(opened.err().message);
    co_await fsys.close();
    co_return 1;
  }
  fs::fuse::session& s = **opened;
  std::string ctl_path =
      _cfg.control_socket.empty() ? control_socket_path(_cfg.mountpoint) : _cfg.control_socket;
  result<control_server> ctl = control_server::listen(ctl_path);
  if (!ctl.ok()) {
    log_warn("control_socket_unavailable", {{"error", ctl.err().message}});
  }
  mount_stats stats_view{_cfg,
                         fsys,
                         s.ops(),
                         *oss.client,
                         _started,
                         [&s] { return s.channel_stats(); },
                         [&s] { return s.uring_requests(); },
                         _restore != nullptr ? _restore->restarts : 0u};
  abort_source stop_signals;
  gate bg;
  bg.spawn(watch_signals(_sfd, s, stop_signals));
  // Index refresh: every --refresh seconds, and once right after a reused index is served;
  // it stops when the session's channel has ended.
  gate refresher;
  if (fsys.options().mode == fs::fs_mode::index && (_cfg.refresh_s > 0 || _index_reused)) {
    refresher.spawn(
        refresh_loop(fsys, std::chrono::seconds(_cfg.refresh_s), _index_reused, s.ended()));
  }
  if (ctl.ok()) {
    bg.spawn(ctl->serve(make_control_handler(stats_view)));
  }
  std::unique_ptr<metrics_endpoint> prom;
  if (_cfg.metrics_port != 0) {
    // The mount's counters are in the metrics registry while stats_view lives.
    auto ep = metrics_endpoint::listen(static_cast<uint16_t>(_cfg.metrics_port));
    if (ep.ok()) {
      prom = std::move(*ep);
      bg.spawn(prom->serve());
    } else {
      log_warn("metrics_endpoint_unavailable", {{"error", ep.err().message}});
    }
  }
  // The mount is usable once the kernel's INIT is answered: report ready then.
  bg.spawn(report_ready(s, _ready, _cfg));
  status end = co_await s.run();  // logged by the session when it is an error
  (void)end;
  co_await fsys.close();  // ends a listing in flight
  co_await refresher.close();
  stop_signals.request_abort();
  if (ctl.ok()) {
    co_await ctl->stop();
  }
  if (prom) {
    co_await prom->stop();
  }
  co_await bg.close();
  log_info("unmounted", {{"mountpoint", _cfg.mountpoint}});
  co_return 0;
}

}  // namespace

int run_daemon(const mount_config& cfg, const std::vector<int>& cpus, int ready_fd,
               fs::fuse::supervisor_link link, const fs::fuse::restore_state* restore) {
  int sfd = stop_signal_fd();
  readiness ready(ready_fd);
  int rc = 1;
  try {
    if (cpus.empty()) {
      reactor r(reactor_config{.sqe128 = cfg.fuse_uring});
      mount_daemon daemon(cfg, ready, sfd, nullptr, link, restore);
      rc = r.run(daemon.run());
    } else {
      // Created after the signal mask is set: the reactor threads inherit it.
      reactor_pool pool(
          reactor_pool_config{.cpus = cpus, .sqe128 = cfg.fuse_uring, .poll_us = cfg.poll_us});
      mount_daemon daemon(cfg, ready, sfd, &pool, link, restore);
      rc = pool.run_sync(0, [&] { return daemon.run(); });
      pool.stop();
    }
  } catch (const std::exception& e) {
    ready.fail(e.what());
    log_error("mount_failed", {{"what", e.what()}});
  }
  if (rc != 0 && cfg.foreground) {
    // The reason was logged; in the foreground also say it plainly.
    std::fprintf(stderr, "ossuring mount: failed (see the log above)\n");
  }
  ::close(sfd);
  return rc;
}

}  // namespace ossuring::cli
