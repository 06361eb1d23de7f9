// Control-socket commands of a running mount: stats JSON and warmup with progress.
#include "tools/cli/mount_stats.hh"

#include <simdjson.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <deque>
#include <string>
#include <vector>

#include "core/event.hh"
#include "core/io.hh"
#include "core/json.hh"
#include "core/log.hh"
#include "core/metrics.hh"

namespace ossuring::cli {

namespace {

using ossuring::json_quote;

struct warm_file {
  uint64_t ino = 0;
  uint64_t size = 0;
  std::string path;
};

struct warm_state {
  std::deque<warm_file> queue;
  uint64_t files_total = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_cached = 0;  // of bytes_total, in blobs cached before the warmup started
  uint64_t files_done = 0;
  uint64_t bytes_done = 0;
  uint64_t files_failed = 0;
  std::string first_error;
  // Inodes this warmup looked up (lookups and readdirplus entries count as the kernel's would):
  // forgotten at the end, so that the inode table and old index generations can be released.
  std::vector<uint64_t> looked_up;
};

// Resolves a mount-relative path to an inode by lookups from the root.
task<result<fs::entry_reply>> resolve(fs::filesystem& fsys, const std::string& path,
                                      std::vector<uint64_t>& looked_up) {
  fs::entry_reply cur;
  cur.attr.ino = 1;
  cur.attr.mode = S_IFDIR;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    std::string part =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? path.size() : slash + 1;
    if (part.empty() || part == ".") {
      continue;
    }
    result<fs::entry_reply> e = co_await fsys.lookup(cur.attr.ino, part);
    if (!e.ok()) {
      co_return make_error(e.err().code, path + ": " + e.err().message);
    }
    looked_up.push_back(e->attr.ino);
    cur = *e;
  }
  co_return cur;
}

// Adds the files below directory `ino` (recursively) to the queue.
task<void> collect(fs::filesystem& fsys, uint64_t ino, const std::string& path, warm_state& st) {
  result<uint64_t> fh = co_await fsys.opendir(ino);
  if (!fh.ok()) {
    co_return;
  }
  std::vector<warm_file> dirs;
  uint64_t offset = 0;
  for (;;) {
    size_t got = 0;
    status s = co_await fsys.readdir(ino, *fh, offset, true, [&](const fs::dir_entry& e) {
      if (got >= 4096) {
        return false;  // this entry is not taken: the next round starts with it
      }
      offset = e.next_offset;
      ++got;
      if (e.name == "." || e.name == "..") {
        return true;
      }
      st.looked_up.push_back(e.ino);
      warm_file f{e.ino, e.attr.size,
                  path.empty() ? std::string(e.name) : path + "/" + std::string(e.name)};
      if (e.is_dir) {
        dirs.push_back(std::move(f));
      } else {
        st.files_total++;
        st.bytes_total += f.size;
        if (fsys.is_cached(f.ino)) {
          st.bytes_cached += f.size;
        }
        st.queue.push_back(std::move(f));
      }
      return true;
    });
    if (!s.ok() || got == 0) {
      break;
    }
  }
  fsys.releasedir(ino, *fh);
  for (const warm_file& d : dirs) {
    co_await collect(fsys, d.ino, d.path, st);
  }
}

// Reads one file through the file system (which fetches and caches it).
task<void> warm_one(fs::filesystem& fsys, warm_file f, warm_state& st) {
  result<fs::open_reply> o = co_await fsys.open(f.ino, O_RDONLY);
  if (!o.ok()) {
    ++st.files_failed;
    if (st.first_error.empty()) {
      st.first_error = f.path + ": " + o.err().describe();
    }
    co_return;
  }
  // Small files were fetched whole by open(); large ones are read through in big pieces.
  if (o->backing_fd < 0) {
    std::vector<std::byte> buf(std::min<uint64_t>(f.size, 8u << 20));
    uint64_t off = 0;
    while (off < f.size && !buf.empty()) {
      result<size_t> n = co_await fsys.read(f.ino, o->fh, off, buf);
      if (!n.ok()) {
        ++st.files_failed;
        if (st.first_error.empty()) {
          st.first_error = f.path + ": " + n.err().describe();
        }
        break;
      }
      if (*n == 0) {
        break;
      }
      off += *n;
    }
  }
  fsys.release(f.ino, o->fh);
  ++st.files_done;
  st.bytes_done += f.size;
}

std::string progress_line(const warm_state& st, double secs, bool done) {
  double rate = secs > 0 ? static_cast<double>(st.bytes_done) / secs : 0;
  std::string s = "{\"files_done\":" + std::to_string(st.files_done) +
                  ",\"files_total\":" + std::to_string(st.files_total) +
                  ",\"bytes_done\":" + std::to_string(st.bytes_done) +
                  ",\"bytes_total\":" + std::to_string(st.bytes_total) +
                  ",\"bytes_cached\":" + std::to_string(st.bytes_cached) +
                  ",\"files_failed\":" + std::to_string(st.files_failed) +
                  ",\"bytes_per_second\":" + std::to_string(static_cast<uint64_t>(rate)) +
                  ",\"done\":" + (done ? "true" : "false");
  if (done && !st.first_error.empty()) {
    s += ",\"first_error\":" + json_quote(st.first_error);
  }
  return s + "}";
}

task<void> warmup(mount_stats& view, std::string args, control_connection& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::vector<std::string> paths;
  if (parser.parse(args).get(doc) == simdjson::SUCCESS) {
    simdjson::dom::array arr;
    if (doc["paths"].get(arr) == simdjson::SUCCESS) {
      for (auto p : arr) {
        std::string_view v;
        if (p.get(v) == simdjson::SUCCESS) {
          paths.emplace_back(v);
        }
      }
    }
  } else if (!args.empty()) {
    co_await out.send_line("{\"error\":\"malformed warmup request\",\"done\":true}");
    co_return;
  }
  if (paths.empty()) {
    paths.push_back("");  // the whole mount
  }
  warm_state st;
  auto forget_all = [&] {
    for (uint64_t ino : st.looked_up) {
      view.fs.forget(ino, 1);
    }
    st.looked_up.clear();
  };
  for (const std::string& p : paths) {
    result<fs::entry_reply> e = co_await resolve(view.fs, p, st.looked_up);
    if (!e.ok()) {
      forget_all();
      co_await out.send_line("{\"error\":" + json_quote(e.err().message) + ",\"done\":true}");
      co_return;
    }
    if (S_ISDIR(e->attr.mode)) {
      co_await collect(view.fs, e->attr.ino, p, st);
    } else {
      st.files_total++;
      st.bytes_total += e->attr.size;
      if (view.fs.is_cached(e->attr.ino)) {
        st.bytes_cached += e->attr.size;
      }
      st.queue.push_back({e->attr.ino, e->attr.size, p});
    }
  }
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Bounded concurrency: enough GETs in flight to fill the link, within the client's limiter.
  const unsigned concurrency = std::max(1u, view.cfg.prefetch_concurrency);
  gate workers;
  unsigned running = 0;
  event slot_free;
  auto last_report = std::chrono::steady_clock::now();
  while (!st.queue.empty()) {
    while (running >= concurrency) {
      slot_free.reset();
      co_await slot_free.wait();
    }
    warm_file f = std::move(st.queue.front());
    st.queue.pop_front();
    ++running;
    workers.spawn([](fs::filesystem& fsys, warm_file file, warm_state& s, unsigned& run,
                     event& free) -> task<void> {
      co_await warm_one(fsys, std::move(file), s);
      --run;
      free.set();
    }(view.fs, std::move(f), st, running, slot_free));
    if (std::chrono::steady_clock::now() - last_report > std::chrono::milliseconds(200)) {
      last_report = std::chrono::steady_clock::now();
      if (!co_await out.send_line(progress_line(st, elapsed(), false))) {
        break;  // the client went away; finish what is in flight
      }
    }
  }
  // The last files: progress goes on as each one completes (at most every 200 ms).
  while (running > 0) {
    slot_free.reset();
    co_await slot_free.wait();
    if (std::chrono::steady_clock::now() - last_report > std::chrono::milliseconds(200)) {
      last_report = std::chrono::steady_clock::now();
      if (!co_await out.send_line(progress_line(st, elapsed(), false))) {
        break;
      }
    }
  }
  co_await workers.close();
  forget_all();
  log_info("warmup_done", {{"files", std::to_string(st.files_done)},
                           {"failed", std::to_string(st.files_failed)},
                           {"bytes", std::to_string(st.bytes_done)}});
  co_await out.send_line(progress_line(st, elapsed(), true));
}

}  // namespace

namespace {

// One counter or gauge of the mount: its Prometheus name, its place in the stats document and
// where its value comes from. The one list of them (docs/metrics.md repeats it for people).
struct mount_metric {
  std::string_view name;
  bool counter;  // else a gauge
  std::string_view help;
  std::string_view json;
  int64_t (*read)(const mount_stats&);
};

int64_t n(uint64_t v) {
  return static_cast<int64_t>(v);
}
const fs::fuse_ops_counters& fuse(const mount_stats& m) {
  return m.ops.counters();
}
const fs::fs_counters& fsc(const mount_stats& m) {
  return m.fs.counters();
}
fs::blob_store_stats cache(const mount_stats& m) {
  return m.fs.cache_stats();
}

constexpr bool counter = true;
constexpr bool gauge = false;

// clang-format off
constexpr mount_metric mount_metrics[] = {
  {"ossuring_uptime_seconds", gauge, "Seconds since the daemon started.", "mount.uptime_seconds",
   [](const mount_stats& m) { return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - m.started).count()); }},
  {"ossuring_daemon_restarts", gauge, "Daemons of this mount that died before this one (--supervise).", "mount.restarts",
   [](const mount_stats& m) { return static_cast<int64_t>(m.restarts); }},

  {"ossuring_fuse_requests_total", counter, "FUSE requests read from the kernel.", "fuse.requests",
   [](const mount_stats& m) { return n(fuse(m).requests); }},
  {"ossuring_fuse_lookups_total", counter, "LOOKUP requests.", "fuse.lookups",
   [](const mount_stats& m) { return n(fuse(m).lookups); }},
  {"ossuring_fuse_getattrs_total", counter, "GETATTR requests.", "fuse.getattrs",
   [](const mount_stats& m) { return n(fuse(m).getattrs); }},
  {"ossuring_fuse_readdirs_total", counter, "READDIR and READDIRPLUS requests.", "fuse.readdirs",
   [](const mount_stats& m) { return n(fuse(m).readdirs); }},
  {"ossuring_fuse_opens_total", counter, "OPEN requests.", "fuse.opens",
   [](const mount_stats& m) { return n(fuse(m).opens); }},
  {"ossuring_fuse_passthrough_opens_total", counter, "Opens handed to the kernel by passthrough.", "fuse.passthrough_opens",
   [](const mount_stats& m) { return n(fuse(m).passthrough_opens); }},
  {"ossuring_fuse_daemon_reads_total", counter, "READs served by the daemon.", "fuse.daemon_reads",
   [](const mount_stats& m) { return n(fuse(m).daemon_reads); }},
  {"ossuring_fuse_daemon_read_bytes_total", counter, "Bytes of READs served by the daemon.", "fuse.daemon_read_bytes",
   [](const mount_stats& m) { return n(fuse(m).daemon_read_bytes); }},
  {"ossuring_fuse_errors_total", counter, "FUSE requests answered with an error.", "fuse.errors",
   [](const mount_stats& m) { return n(fuse(m).errors); }},
  {"ossuring_fuse_interrupted_total", counter, "Requests answered after the kernel interrupted them.", "fuse.interrupted",
   [](const mount_stats& m) { return n(fuse(m).interrupted); }},
  {"ossuring_fuse_uring_requests_total", counter, "Requests served through FUSE over io_uring.", "fuse.uring_requests",
   [](const mount_stats& m) { return n(m.uring_requests ? m.uring_requests() : 0); }},

  {"ossuring_fs_list_requests_total", counter, "LIST requests sent by the file system.", "fs.list_requests",
   [](const mount_stats& m) { return n(fsc(m).list_requests); }},
  {"ossuring_fs_meta_requests_total", counter, "GetObjectMeta and HeadObject requests sent by the file system.", "fs.meta_requests",
   [](const mount_stats& m) { return n(fsc(m).meta_requests); }},
  {"ossuring_cache_misses_total", counter, "GETs sent by the file system (whole objects into the cache, and ranges).", "fs.get_requests",
   [](const mount_stats& m) { return n(fsc(m).get_requests); }},
  {"ossuring_fs_shared_fetch_waits_total", counter, "Opens that joined a GET already in flight.", "fs.shared_fetch_waits",
   [](const mount_stats& m) { return n(fsc(m).shared_fetch_waits); }},
  {"ossuring_cache_hits_total", counter, "Reads served from a cached blob.", "fs.blob_hits",
   [](const mount_stats& m) { return n(fsc(m).blob_hits); }},
  {"ossuring_fs_negative_hits_total", counter, "Lookups answered from the negative cache (lazy mode).", "fs.negative_hits",
   [](const mount_stats& m) { return n(fsc(m).negative_hits); }},
  {"ossuring_index_nodes", gauge, "Entries of the current index.", "fs.index_nodes",
   [](const mount_stats& m) { return n(m.fs.current_index().node_count()); }},
  {"ossuring_index_generations", gauge, "Index generations alive (the current one and older ones the kernel holds).", "fs.index_generations",
   [](const mount_stats& m) { return n(m.fs.index_generations()); }},
  {"ossuring_index_refreshes_total", counter, "Indexes listed again and installed under the live mount.", "fs.index_refreshes",
   [](const mount_stats& m) { return n(fsc(m).index_refreshes); }},
  {"ossuring_prefetch_gets_total", counter, "Whole-object GETs sent by prefetch.", "fs.prefetch_gets",
   [](const mount_stats& m) { return n(fsc(m).prefetch_gets); }},
  {"ossuring_prefetch_queued_total", counter, "Files queued for prefetch.", "fs.prefetch_queued",
   [](const mount_stats& m) { return n(fsc(m).prefetch_queued); }},
  {"ossuring_readahead_bytes", gauge, "Bytes of large-file read-ahead windows held.", "fs.buffer_bytes",
   [](const mount_stats& m) { return n(fsc(m).buffer_bytes); }},
  {"ossuring_fs_interrupted_total", counter, "Reads and opens ended by an abort (FUSE INTERRUPT).", "fs.interrupted",
   [](const mount_stats& m) { return n(fsc(m).interrupted); }},
  {"ossuring_fs_reads_failed_again_total", counter, "READs answered with a failure just seen (failed_read_memory).", "fs.reads_failed_again",
   [](const mount_stats& m) { return n(fsc(m).reads_failed_again); }},
  {"ossuring_crc64_mismatches_total", counter, "Whole objects or read-through ranges whose CRC-64 differed.", "fs.crc64_mismatches",
   [](const mount_stats& m) { return n(fsc(m).crc64_mismatches); }},
  {"ossuring_uploads_total", counter, "Files written to OSS (PutObject or multipart).", "fs.uploads",
   [](const mount_stats& m) { return n(fsc(m).uploads); }},
  {"ossuring_upload_bytes_total", counter, "Bytes of files written to OSS.", "fs.upload_bytes",
   [](const mount_stats& m) { return n(fsc(m).upload_bytes); }},
  {"ossuring_upload_failures_total", counter, "Uploads that failed after the client's retries.", "fs.upload_failures",
   [](const mount_stats& m) { return n(fsc(m).upload_failures); }},
  {"ossuring_blobs_seeded_total", counter, "Uploaded small files kept as blobs (reading them needs no GET).", "fs.blobs_seeded",
   [](const mount_stats& m) { return n(fsc(m).blobs_seeded); }},

  {"ossuring_cache_limit_bytes", gauge, "The blob cache's budget (0: unlimited).", "cache.limit",
   [](const mount_stats& m) { return n(cache(m).limit); }},
  {"ossuring_cache_bytes", gauge, "Bytes of cached blobs, blobs handed out uncached and GETs in flight.", "cache.bytes",
   [](const mount_stats& m) { return n(cache(m).bytes); }},
  {"ossuring_cache_blobs", gauge, "Objects cached whole.", "cache.blobs",
   [](const mount_stats& m) { return n(cache(m).blobs); }},
  {"ossuring_cache_pinned_blobs", gauge, "Cached blobs held by open files.", "cache.pinned",
   [](const mount_stats& m) { return n(cache(m).pinned); }},
  {"ossuring_cache_evictions_total", counter, "Blobs evicted to stay in budget.", "cache.evictions",
   [](const mount_stats& m) { return n(cache(m).evictions); }},
  {"ossuring_cache_uncached_total", counter, "Blobs handed out without caching (the budget full of pinned blobs).", "cache.uncached",
   [](const mount_stats& m) { return n(cache(m).uncached); }},
  {"ossuring_cache_reserved_bytes", gauge, "Bytes reserved for GETs in flight.", "cache.reserved",
   [](const mount_stats& m) { return n(cache(m).reserved); }},
  {"ossuring_memory_limit_bytes", gauge, "The daemon's memory budget (--memory-limit).", "cache.memory_limit",
   [](const mount_stats& m) { return n(m.cfg.memory_limit); }},
};
// clang-format on

// The OSS client's per-API metrics (registered by http/oss/client.cc) in the stats document.
constexpr json_field oss_layout[] = {
    {"ossuring_oss_requests_total", "oss.{api}.requests"},
    {"ossuring_oss_retries_total", "oss.{api}.retries"},
    {"ossuring_oss_errors_total", "oss.{api}.errors"},
    {"ossuring_oss_received_bytes_total", "oss.{api}.bytes_received"},
    {"ossuring_oss_sent_bytes_total", "oss.{api}.bytes_sent"},
    {"ossuring_oss_request_seconds", "oss.{api}.latency_ms", 1e-6},
};

}  // namespace

mount_stats::mount_stats(const mount_config& cfg_, fs::filesystem& fs_, fs::fuse_ops& ops_,
                         oss::oss_client& client_, std::chrono::steady_clock::time_point started_,
                         std::function<std::vector<fs::fuse_channel_stats>()> channels_,
                         std::function<uint64_t()> uring_requests_, unsigned restarts_)
    : cfg(cfg_),
      fs(fs_),
      ops(ops_),
      client(client_),
      started(started_),
      channels(std::move(channels_)),
      uring_requests(std::move(uring_requests_)),
      restarts(restarts_) {
  metrics_registry& reg = metrics();
  _registered.reserve(std::size(mount_metrics));
  for (const mount_metric& m : mount_metrics) {
    auto read = [this, &m] { return m.read(*this); };
    if (m.counter) {
      _registered.push_back(reg.observe_counter(m.name, {}, m.help,
                                                [read] { return static_cast<uint64_t>(read()); }));
    } else {
      _registered.push_back(reg.observe_gauge(m.name, {}, m.help, read));
    }
  }
}

std::string mount_stats::to_json() const {
  std::string channel_list = "[";
  if (channels) {
    for (const fs::fuse_channel_stats& c : channels()) {
      channel_list += std::string(channel_list.size() > 1 ? "," : "") +
                      "{\"reactor\":" + std::to_string(c.reactor) +
                      ",\"cpu\":" + std::to_string(c.cpu) +
                      ",\"requests\":" + std::to_string(c.requests) +
                      ",\"uring_requests\":" + std::to_string(c.uring_requests) + "}";
    }
  }
  channel_list += "]";
  // What is not a metric: names, modes, flags and the per-channel list. An object given as
  // "{}" is filled by the metrics placed in it.
  const std::vector<json_member> extra = {
      {"mount.bucket", json_quote(cfg.bucket)},
      {"mount.prefix", json_quote(cfg.prefix)},
      {"mount.mountpoint", json_quote(cfg.mountpoint)},
      {"mount.mode", json_quote(cfg.mode)},
      {"mount.open_mode", json_quote(cfg.open_mode)},
      {"mount.passthrough_granted", ops.session().passthrough ? "true" : "false"},
      // The sections in this order whatever the order the metrics were registered in.
      {"fuse", "{}"},
      {"fs", "{}"},
      {"cache", "{}"},
      {"oss", "{}"},
      {"fuse.channels", channel_list},
      {"cache.backend", json_quote(cfg.cache_dir.empty() ? "memory" : "directory")},
      {"cache.limited_by", json_quote(fs.cache_stats().limited_by)},
  };
  std::vector<json_field> layout;
  for (const mount_metric& m : mount_metrics) {
    layout.push_back({m.name, m.json});
  }
  layout.insert(layout.end(), std::begin(oss_layout), std::end(oss_layout));
  return metrics().render_json(layout, extra);
}

control_handler make_control_handler(mount_stats& view) {
  return [&view](std::string command, std::string args, control_connection& out) -> task<void> {
    if (command == "stats") {
      co_await out.send_line(view.to_json());
    } else if (command == "warmup") {
      co_await warmup(view, std::move(args), out);
    } else if (command == "refresh") {
      const auto t0 = std::chrono::steady_clock::now();
      result<fs::index_stats> r = co_await view.fs.refresh_index();
      if (!r.ok()) {
        co_await out.send_line("{\"error\":" + json_quote(r.err().describe()) + "}");
      } else {
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        co_await out.send_line("{\"objects\":" + std::to_string(r->objects) +
                               ",\"directories\":" + std::to_string(r->directories) +
                               ",\"generations\":" + std::to_string(view.fs.index_generations()) +
                               ",\"seconds\":" + std::to_string(secs) + "}");
      }
    } else {
      co_await out.send_line("{\"error\":" + json_quote("unknown command '" + command + "'") + "}");
    }
  };
}

}  // namespace ossuring::cli
