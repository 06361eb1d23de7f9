// `ossuring mount`: builds the OSS client, indexes the prefix (index mode), mounts, serves FUSE
// until unmounted or signalled, and answers `ossuring stats`/`warmup` on the control socket.
//
// Without -f the command forks: the parent returns 0 once the mount is ready (the kernel's INIT
// answered), or prints the child's error and returns 1. SIGINT/SIGTERM unmount cleanly (lazily
// when files are still open); an unmount from outside ends the daemon.
//
// With --cpus (or resourceLimit) the daemon runs one reactor per listed CPU: reactor 0 is home
// (file system, OSS client, control socket, the session's channel); every other reactor serves a
// clone of the FUSE session (fs/fuse/clones.hh).
//
// With --supervise the daemon runs as the worker of a supervisor that restarts it on the same
// FUSE connection when it dies (supervisor.hh).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/event.hh"
#include "core/io.hh"
#include "core/log.hh"
#include "core/metrics.hh"
#include "core/reactor_pool.hh"
#include "core/signals.hh"
#include "fs/fuse/adapter.hh"
#include "fs/fuse/channel.hh"
#include "fs/fuse/clones.hh"
#include "fs/fuse/mount.hh"
#include "fs/fuse/ring.hh"
#include "tools/cli/client_setup.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"
#include "tools/cli/log_setup.hh"
#include "tools/cli/metrics_endpoint.hh"
#include "tools/cli/mount_setup.hh"
#include "tools/cli/mount_stats.hh"
#include "tools/cli/mountinfo.hh"
#include "tools/cli/sd_notify.hh"
#include "tools/cli/supervisor.hh"

namespace ossuring::cli {

namespace {

using namespace std::chrono_literals;

// FUSE over io_uring entries per CPU queue: requests of one CPU served at once.
constexpr unsigned fuse_uring_entries_per_queue = 8;
// Reads of /dev/fuse in flight per channel.
constexpr unsigned fuse_readers = 4;

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

// Stops the daemon on SIGINT/SIGTERM: detaching the mount makes the channel's reads end
// (ENODEV). The descriptor stays open until serve_mount closes it after the last handler
// replied: closed here, its number could go to another file (a socket, a staged file) that the
// aborted handlers' replies would then be written into.
task<void> watch_signals(int sfd, fs::fuse_mount& m, fs::fuse_channel& ch, abort_source& stop) {
  signalfd_siginfo info{};
  int n = co_await ossuring::read(sfd, &info, sizeof(info), static_cast<uint64_t>(-1),
                                  {.abort = &stop});
  if (n != static_cast<int>(sizeof(info))) {
    co_return;
  }
  log_info("signal", {{"signo", std::to_string(info.ssi_signo)}, {"action", "unmount"}});
  status s = m.detach();
  if (!s.ok()) {
    log_warn("unmount_failed", {{"error", s.err().message}});
  }
  ch.stop();
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

// The blob cache's figures for the Prometheus endpoint.
cache_figures cache_figures_of(const fs::filesystem& fsys) {
  const fs::blob_store_stats b = fsys.cache_stats();
  const fs::fs_counters& f = fsys.counters();
  cache_figures c;
  c.bytes = b.bytes;
  c.limit = b.limit;
  c.blobs = b.blobs;
  c.pinned = b.pinned;
  c.evictions = b.evictions;
  c.hits = f.blob_hits;
  c.misses = f.get_requests;
  c.readahead_bytes = f.buffer_bytes;
  return c;
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

// Hands the supervisor the index now served (a restarted worker installs it at the same base).
// When that fails, the supervisor is told not to restart this mount: it would restore an index
// older than the one whose inode numbers the kernel holds.
bool send_index(supervisor_link& link, const mount_config& cfg, const fs::filesystem& fsys) {
  if (!link.active()) {
    return false;
  }
  std::vector<std::byte> image = fsys.current_index().serialize(cfg.bucket, cfg.prefix);
  status st = link.send_index(image, fsys.current_index_base(), fsys.current_index_provisional());
  if (!st) {
    link.give_up("the index could not be handed over: " + st.err().message);
    return false;
  }
  return true;
}

task<int> serve_mount(const mount_config& cfg, readiness& ready, int sfd, reactor_pool* pool,
                      supervisor_link& link, const restore_state* restore) {
  auto started = std::chrono::steady_clock::now();
  result<std::unique_ptr<oss_session>> session = make_oss_session(cfg);
  if (!session.ok()) {
    ready.fail(session.err().describe());
    co_return 1;
  }
  oss_session& oss = **session;
  fs::filesystem fsys(*oss.client, make_fs_options(cfg), make_blob_store(cfg));

  int rc = 0;
  bool index_reused = false;
  // The first listing rides out throttling for up to a minute a request instead of refusing
  // the mount after the run-time attempts (docs/configuration.md "--retries").
  const oss::retry_policy run_retry = oss.client->config().retry;
  oss.client->set_retry(oss::startup_retry(run_retry));
  abort_source early_stop;   // ends the early signal watch
  abort_source early_abort;  // fired by it: ends the lazy probe
  bool signalled = false;
  gate early;
  early.spawn(watch_signals_early(sfd, fsys, early_abort, early_stop, signalled));
  indexing_marker indexing(cfg.mountpoint);  // lets `ossuring umount` stop the listing
  do {
    if (restore != nullptr) {
      // The index the dead worker served, at its inode base: the kernel's inode numbers keep
      // naming the same objects. Never a new listing, whose numbers could name others.
      result<fs::index> idx = restore->index_fd >= 0
                                  ? restored_index(cfg, restore->index_fd)
                                  : result<fs::index>(make_error(ENOENT, "no index image"));
      if (!idx.ok()) {
        log_error("mount_resume_failed", {{"error", idx.err().message}});
        rc = 1;
        break;
      }
      fsys.restore_index(std::move(*idx), {.base = restore->index_base,
                                           .provisional = restore->index_provisional,
                                           .file = index_file(cfg),
                                           .restarts = restore->restarts});
      // An index the dead worker had reused from disk is confirmed by a refresh soon, as then.
      index_reused = restore->index_provisional;
    } else if (fsys.options().mode == fs::fs_mode::index) {
      const std::string idx_file = index_file(cfg);
      bool& reused = index_reused;
      // Not a conditional expression with two co_awaits: GCC 12 destroys its temporary twice.
      result<fs::index_stats> st = make_error(EINVAL, "no index");
      if (idx_file.empty()) {
        st = co_await fsys.build_index();
      } else {
        st = co_await fsys.load_or_build_index(idx_file, std::chrono::seconds(cfg.index_max_age_s),
                                               &reused);
      }
      if (!st.ok()) {
        ready.fail("indexing oss://" + cfg.bucket + "/" + cfg.prefix +
                   " failed: " + st.err().describe());
        rc = 1;
        break;
      }
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      // The file system logs index_built (with its requests) when it lists; this line says the
      // mount's index is ready, listed or reused, and how long that took.
      log_info("index_ready", {{"objects", std::to_string(st->objects)},
                               {"directories", std::to_string(st->directories)},
                               {"skipped_keys", std::to_string(st->skipped_keys)},
                               {"reused", reused ? "yes" : "no"},
                               {"seconds", std::to_string(secs)}});
    } else {
      // Lazy mode: one cheap listing proves the endpoint, bucket and credentials now rather than
      // at the first `ls`.
      oss::list_request probe;
      probe.prefix = cfg.prefix;
      probe.delimiter = "/";
      probe.max_keys = 1;
      result<oss::list_page> p = co_await oss.client->list_objects_v2(probe, &early_abort);
      if (!p.ok()) {
        ready.fail("listing oss://" + cfg.bucket + "/" + cfg.prefix +
                   " failed: " + p.err().describe());
        rc = 1;
        break;
      }
    }

    oss.client->set_retry(run_retry);
    indexing.remove();
    early_stop.request_abort();
    co_await early.close();
    if (signalled) {
      ready.fail("stopped by a signal before the mount was ready");
      rc = 1;
      break;
    }

    fs::mount_options mo;
    mo.mountpoint = cfg.mountpoint;
    mo.source = "oss://" + cfg.bucket + "/" + cfg.prefix;
    mo.read_only = cfg.read_only;
    mo.allow_other = cfg.allow_other;
    mo.default_permissions = cfg.default_permissions;
    // A restarted worker serves the connection its supervisor kept open.
    result<fs::fuse_mount> m = restore != nullptr
                                   ? result<fs::fuse_mount>(fs::fuse_mount(
                                         unique_fd(::fcntl(restore->fuse_fd, F_DUPFD_CLOEXEC, 0)),
                                         cfg.mountpoint, nullptr))
                                   : fs::mount_fuse(mo);
    if (!m.ok()) {
      ready.fail(m.err().message);
      co_await fsys.close();
      rc = 1;
      break;
    }
    fs::open_mode mode = parse_open_mode(cfg.open_mode);
    fs::fuse_init_wishes wishes;
    wishes.passthrough = mode == fs::open_mode::passthrough;
    // Writes need OPEN (a handle per writer, FLUSH on close): a writable mount reads with
    // handles too.
    wishes.no_open = mode == fs::open_mode::noopen && cfg.read_only;
    wishes.readdirplus = cfg.readdirplus;
    // Ring entries complete on this reactor only. With several reactors the /dev/fuse clones
    // serve each CPU where it runs, which measured faster than one reactor serving every
    // CPU's queue (docs/benchmarks.md "FUSE over io_uring").
    const bool several_reactors = pool != nullptr && pool->size() > 1;
    wishes.over_io_uring = cfg.fuse_uring && !several_reactors;
    if (cfg.fuse_uring && several_reactors) {
      log_warn("fuse_uring_unavailable",
               {{"reason", "--fuse-uring serves one reactor; --cpus lists several"}});
    }
    fs::fuse_channel ch(m->fd(), wishes);
    fs::fuse_ops ops(fsys, mode);
    // A refresh that changed the index makes the kernel look its cached names up again (and a
    // supervisor keeps the new index for a restart).
    fsys.on_index_changed([&ch, &link, &cfg, &fsys] {
      send_index(link, cfg, fsys);
      return ch.notify_inc_epoch();
    });
    if (restore != nullptr) {
      // The kernel sent INIT once, to the worker that died: take what it settled, and have
      // the requests that worker read but never answered queued again.
      ch.adopt(restore->params);
      ops.on_init(restore->params);
      if (status st = ch.notify_resend(); !st) {
        log_warn("fuse_resend_failed", {{"error", st.err().message}});
      }
      log_warn("mount_resumed", {{"mountpoint", cfg.mountpoint},
                                 {"restarts", std::to_string(restore->restarts)},
                                 {"index_base", std::to_string(restore->index_base)}});
    }
    // Destroyed before `ch` and `ops`: the clones' channels relay to both.
    std::optional<fs::fuse_clones> clones;
    // FUSE over io_uring entries, once INIT accepted it (served on this reactor).
    std::optional<fs::fuse_uring> uring;
    if (pool && pool->size() > 1) {
      clones.emplace(*pool, 0, m->fd(), ch, ops);
    }

    std::string ctl_path =
        cfg.control_socket.empty() ? control_socket_path(cfg.mountpoint) : cfg.control_socket;
    result<control_server> ctl = control_server::listen(ctl_path);
    if (!ctl.ok()) {
      log_warn("control_socket_unavailable", {{"error", ctl.err().message}});
    }
    auto channel_stats = [&]() -> std::vector<fs::fuse_channel_stats> {
      if (clones) {
        return clones->stats();
      }
      return {{0, pool ? pool->cpu(0) : -1, ch.requests_read()}};
    };
    mount_stats stats_view{cfg,
                           fsys,
                           ops,
                           *oss.client,
                           started,
                           channel_stats,
                           [&uring]() -> uint64_t { return uring ? uring->requests() : 0; },
                           restore != nullptr ? restore->restarts : 0u};
    abort_source stop_signals;
    gate bg;
    bg.spawn(watch_signals(sfd, *m, ch, stop_signals));
    // Index refresh: every --refresh seconds, and once right after a reused index is served.
    abort_source stop_refresh;
    gate refresher;
    if (fsys.options().mode == fs::fs_mode::index && (cfg.refresh_s > 0 || index_reused)) {
      refresher.spawn(
          refresh_loop(fsys, std::chrono::seconds(cfg.refresh_s), index_reused, stop_refresh));
    }
    if (ctl.ok()) {
      bg.spawn(ctl->serve(make_control_handler(stats_view)));
    }
    std::unique_ptr<metrics_endpoint> prom;
    if (cfg.metrics_port != 0) {
      auto ep = metrics_endpoint::listen(static_cast<uint16_t>(cfg.metrics_port), [&ops, &fsys] {
        const fs::fuse_ops_counters& c = ops.counters();
        const fs::fs_counters& f = fsys.counters();
        return prometheus_counter("ossuring_fuse_requests_total", "FUSE requests", c.requests) +
               prometheus_counter("ossuring_fuse_passthrough_opens_total",
                                  "opens handed to the kernel by passthrough",
                                  c.passthrough_opens) +
               prometheus_counter("ossuring_fuse_daemon_reads_total", "READs served by the daemon",
                                  c.daemon_reads) +
               prometheus_counter("ossuring_uploads_total",
                                  "files written to OSS (PutObject or multipart)", f.uploads) +
               prometheus_counter("ossuring_upload_bytes_total", "bytes of files written to OSS",
                                  f.upload_bytes) +
               prometheus_counter("ossuring_upload_failures_total",
                                  "uploads that failed after the client's retries",
                                  f.upload_failures) +
               prometheus_cache_metrics(cache_figures_of(fsys));
      });
      if (ep.ok()) {
        prom = std::move(*ep);
        bg.spawn(prom->serve());
      } else {
        log_warn("metrics_endpoint_unavailable", {{"error", ep.err().message}});
      }
    }
    // The mount is usable once the kernel's INIT is answered: report ready then. The clones
    // join the session once INIT has settled its parameters.
    // Set once the channel has ended: the task below then starts nothing more (a ring started
    // after the teardown looked for one would outlive the connection's descriptor).
    bool session_over = false;
    bg.spawn([](fs::fuse_channel& c, readiness& r, const mount_config& cf, fs::fuse_clones* cl,
                fs::fuse_init_wishes w, std::optional<fs::fuse_uring>* ring, int fuse_fd,
                supervisor_link& lk, const fs::filesystem& fsy, const bool& over) -> task<void> {
      for (int i = 0; i < 1000 && c.params().kernel_major == 0 && !over; ++i) {
        co_await sleep_for(10ms);
      }
      if (over) {
        co_return;  // ended before it was ever ready: the mount's failure is reported below
      }
      if (c.params().kernel_major == 0) {
        r.fail("the kernel did not send FUSE INIT within 10 s");
        co_return;
      }
      if (cl) {
        cl->start(w, fuse_readers);
      }
      if (c.params().over_io_uring) {
        const fs::fuse_session_params& p = c.params();
        size_t payload = std::max<size_t>({8192, p.max_write, size_t{p.max_pages} * 4096});
        ring->emplace(c, fuse_fd, static_cast<unsigned>(::get_nprocs_conf()),
                      fuse_uring_entries_per_queue, payload);
        (*ring)->start();
      } else if (cf.fuse_uring && w.over_io_uring) {
        log_warn("fuse_uring_unavailable",
                 {{"reason",
                   "the kernel did not offer FUSE over io_uring "
                   "(Linux 6.14+ with /sys/module/fuse/parameters/enable_uring=Y)"}});
      }
      if (lk.active() && c.params().kernel_minor < 40) {
        // Without FUSE_NOTIFY_RESEND (7.40, Linux 6.9) the requests a dead worker had read
        // would wait forever: such a crash ends the mount, as without a supervisor.
        log_warn("supervise_unavailable",
                 {{"reason", "the kernel's FUSE lacks NOTIFY_RESEND (Linux 6.9+ needed)"}});
      } else if (lk.active()) {
        // The index first: a supervisor holding a connection always has the index its inode
        // numbers name. From the connection on, the supervisor restarts a worker that dies.
        if (send_index(lk, cf, fsy)) {
          if (status st = lk.send_connection(fuse_fd, c.params()); !st) {
            log_warn("supervisor_connection_not_sent", {{"error", st.err().message}});
          }
        }
      }
      log_info("mounted", {{"mountpoint", cf.mountpoint},
                           {"bucket", cf.bucket},
                           {"prefix", cf.prefix},
                           {"mode", cf.mode},
                           {"passthrough", c.params().passthrough ? "yes" : "no"}});
      r.ok();
    }(ch, ready, cfg, clones ? &*clones : nullptr, wishes, &uring, m->fd(), link, fsys,
                                                                                  session_over));

    status end = co_await ch.run(ops, fuse_readers);
    session_over = true;
    if (!end.ok()) {
      log_error("fuse_channel_ended", {{"error", end.err().message}});
    }
    fsys.on_index_changed(nullptr);  // the session is over: nothing to tell the kernel
    stop_refresh.request_abort();
    if (clones) {
      // Their handlers relay to this reactor, which keeps serving them until they have ended.
      clones->stop();
      co_await clones->wait();
    }
    (void)m->unmount();
    if (uring) {
      // Ring entries end only with the connection: with files still open on the detached
      // mount, they go on serving them until the last one is closed (fs/fuse/ring.hh).
      if (uring->live_entries() > 0) {
        log_info("fuse_uring_draining", {{"entries", std::to_string(uring->live_entries())}});
      }
      co_await uring->wait();
    }
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
    log_info("unmounted", {{"mountpoint", cfg.mountpoint}});
  } while (false);
  if (!early.closed()) {
    early_stop.request_abort();
    co_await early.close();
  }
  co_await oss.close();
  co_return rc;
}

// The daemon proper: SIGINT/SIGTERM through a signalfd, the reactor(s), the mount served.
// `ready_fd`: the waiting parent's pipe, or -1.
int run_daemon(const mount_config& cfg, const std::vector<int>& cpus, int ready_fd,
               supervisor_link link, const restore_state* restore) {
  int sfd = stop_signal_fd();
  readiness ready(ready_fd);
  int rc = 1;
  try {
    if (cpus.empty()) {
      reactor r(reactor_config{.sqe128 = cfg.fuse_uring});
      rc = r.run(serve_mount(cfg, ready, sfd, nullptr, link, restore));
    } else {
      // Created after the signal mask is set: the reactor threads inherit it.
      reactor_pool pool(reactor_pool_config{.cpus = cpus, .sqe128 = cfg.fuse_uring});
      rc = pool.run_sync(0, [&] { return serve_mount(cfg, ready, sfd, &pool, link, restore); });
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

}  // namespace

// The mount in either form (cmd_mount, cmd_mount_helper).
static int mount_command(const args& a, mount_form form);

int cmd_mount(const args& a) {
  return mount_command(a, mount_form::command);
}

int cmd_mount_helper(const args& a) {
  return mount_command(a, mount_form::helper);
}

static int mount_command(const args& a, mount_form form) {
  result<mount_config> parsed = parse_mount_args(a, form);
  if (!parsed.ok()) {
    std::fprintf(stderr, "ossuring mount: %s\n", parsed.err().message.c_str());
    return 2;
  }
  mount_config cfg = std::move(*parsed);
  if (cfg.prefetch != "off" && cfg.prefetch != "siblings" && cfg.prefetch != "dir") {
    std::fprintf(stderr, "ossuring mount: bad --prefetch '%s' (off|siblings|dir)\n",
                 cfg.prefetch.c_str());
    return 2;
  }
  log_level level;
  if (!parse_log_level(cfg.log_level, &level)) {
    std::fprintf(stderr, "ossuring mount: bad --log-level '%s'\n", cfg.log_level.c_str());
    return 2;
  }
  set_log_level(level);
  std::vector<int> cpus;  // empty: one unpinned reactor
  if (!cfg.cpus.empty()) {
    result<std::vector<int>> c = reactor_cpus(cfg.cpus);
    if (!c.ok()) {
      std::fprintf(stderr, "ossuring mount: --cpus: %s\n", c.err().message.c_str());
      return 2;
    }
    cpus = std::move(*c);
  }
  if (cfg.supervise && cpus.size() > 1) {
    std::fprintf(stderr, "ossuring mount: --supervise serves one reactor (--cpus lists %zu)\n",
                 cpus.size());
    return 2;
  }
  std::string mountpoint_warning;
  if (status st = check_mountpoint(cfg.mountpoint, cfg.nonempty, &mountpoint_warning); !st) {
    std::fprintf(stderr, "ossuring mount: %s\n", st.err().message.c_str());
    return 1;
  }
  if (!mountpoint_warning.empty()) {
    cfg.notes.push_back(mountpoint_warning);
  }
  // Before the bucket is listed (minutes for a large one): a mount that cannot happen says so now.
  fs::mount_options access_check;
  access_check.mountpoint = cfg.mountpoint;
  access_check.allow_other = cfg.allow_other;
  if (status st = fs::check_fuse_access(access_check); !st) {
    std::fprintf(stderr, "ossuring mount: %s\n", st.err().message.c_str());
    return 1;
  }
  for (const std::string& note : cfg.notes) {  // once, before the daemon starts
    std::fprintf(stderr, "ossuring mount: note: %s\n", note.c_str());
  }
  // Where the log goes. A backgrounded daemon never keeps the caller's terminal or pipe (the
  // caller may wait for its end: `mount ... 2>&1 | tail`): it logs to --log-dir, else to a
  // default folder, unless its stderr is systemd's journal. In the foreground, stderr.
  std::string log_path;
  const bool journal = stderr_is_journal();
  std::string log_dir = cfg.log_dir;
  if (log_dir.empty() && !cfg.foreground && !journal) {
    log_dir = default_log_dir(::geteuid() == 0, std::getenv("XDG_STATE_HOME"), std::getenv("HOME"));
    if (status st = make_dirs(log_dir); !st) {
      std::fprintf(stderr,
                   "ossuring mount: note: the daemon's log is discarded: %s (give --log-dir)\n",
                   st.err().message.c_str());
      log_dir.clear();
    }
  } else if (!log_dir.empty()) {
    if (status st = make_dirs(log_dir); !st) {
      std::fprintf(stderr, "ossuring mount: --log-dir: %s\n", st.err().message.c_str());
      return 1;
    }
  }
  if (!log_dir.empty()) {
    log_path = log_dir + "/" + log_file_name(absolute_path(cfg.mountpoint));
    if (!set_log_file(log_path, cfg.log_file_max_size, cfg.log_file_max_count)) {
      std::fprintf(stderr, "ossuring mount: cannot write %s: %s\n", log_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
  } else if (!cfg.foreground && !journal) {
    (void)set_log_file("/dev/null");
  }

  int pipefd[2] = {-1, -1};
  if (!cfg.foreground) {
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      std::perror("ossuring mount: pipe");
      return 1;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("ossuring mount: fork");
      return 1;
    }
    if (pid > 0) {
      ::close(pipefd[1]);
      std::string answer;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0) {
        answer.append(buf, static_cast<size_t>(n));
      }
      if (answer.rfind("ok", 0) == 0) {
        return 0;
      }
      if (answer.rfind("error ", 0) == 0) {
        std::fprintf(stderr, "ossuring mount: %s", answer.substr(6).c_str());
      } else {
        std::fprintf(stderr, "ossuring mount: the daemon exited before the mount was ready\n");
      }
      if (!log_path.empty()) {
        std::fprintf(stderr, "ossuring mount: the daemon's log: %s\n", log_path.c_str());
      }
      return 1;
    }
    ::close(pipefd[0]);
    ::setsid();
    // Off the caller's terminal and pipes: stdin and stdout from/to /dev/null, stderr to the
    // log file (what a library prints lands there), or /dev/null; the journal stays.
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      if (!journal) {
        int lfd = log_fd();
        ::dup2(lfd != STDERR_FILENO ? lfd : devnull, STDERR_FILENO);
      }
      ::close(devnull);
    }
  }

  if (cfg.supervise) {
    // The restarted workers have no one waiting: the supervisor closed the pipe after the first.
    return supervise(cfg.mountpoint, pipefd[1], [&](int link, const restore_state* restore) {
      return run_daemon(cfg, cpus, restore ? -1 : pipefd[1], supervisor_link(link), restore);
    });
  }
  return run_daemon(cfg, cpus, pipefd[1], supervisor_link(), nullptr);
}

}  // namespace ossuring::cli
