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

std::string mount_stats::to_json() const {
  const fs::fs_counters& f = fs.counters();
  const fs::fuse_ops_counters& o = ops.counters();
  double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string s = "{";
  s += "\"mount\":{\"bucket\":" + json_quote(cfg.bucket) + ",\"prefix\":" + json_quote(cfg.prefix) +
       ",\"mountpoint\":" + json_quote(cfg.mountpoint) + ",\"mode\":" + json_quote(cfg.mode) +
       ",\"open_mode\":" + json_quote(cfg.open_mode) +
       ",\"passthrough_granted\":" + (ops.session().passthrough ? "true" : "false") +
       ",\"uptime_seconds\":" + std::to_string(static_cast<uint64_t>(uptime)) +
       ",\"restarts\":" + std::to_string(restarts) + "}";
  s += ",\"fuse\":{\"requests\":" + std::to_string(o.requests) +
       ",\"lookups\":" + std::to_string(o.lookups) + ",\"getattrs\":" + std::to_string(o.getattrs) +
       ",\"readdirs\":" + std::to_string(o.readdirs) + ",\"opens\":" + std::to_string(o.opens) +
       ",\"passthrough_opens\":" + std::to_string(o.passthrough_opens) +
       ",\"daemon_reads\":" + std::to_string(o.daemon_reads) +
       ",\"daemon_read_bytes\":" + std::to_string(o.daemon_read_bytes) +
       ",\"errors\":" + std::to_string(o.errors) +
       ",\"uring_requests\":" + std::to_string(uring_requests ? uring_requests() : 0) +
       ",\"channels\":[";
  if (channels) {
    bool first = true;
    for (const fs::fuse_channel_stats& c : channels()) {
      s += std::string(first ? "" : ",") + "{\"reactor\":" + std::to_string(c.reactor) +
           ",\"cpu\":" + std::to_string(c.cpu) + ",\"requests\":" + std::to_string(c.requests) +
           "}";
      first = false;
    }
  }
  s += "]}";
  s += ",\"fs\":{\"list_requests\":" + std::to_string(f.list_requests) +
       ",\"meta_requests\":" + std::to_string(f.meta_requests) +
       ",\"get_requests\":" + std::to_string(f.get_requests) +
       ",\"shared_fetch_waits\":" + std::to_string(f.shared_fetch_waits) +
       ",\"blob_hits\":" + std::to_string(f.blob_hits) +
       ",\"negative_hits\":" + std::to_string(f.negative_hits) +
       ",\"index_nodes\":" + std::to_string(fs.current_index().node_count()) +
       ",\"index_generations\":" + std::to_string(fs.index_generations()) +
       ",\"index_refreshes\":" + std::to_string(f.index_refreshes) +
       ",\"prefetch_gets\":" + std::to_string(f.prefetch_gets) +
       ",\"prefetch_queued\":" + std::to_string(f.prefetch_queued) +
       ",\"buffer_bytes\":" + std::to_string(f.buffer_bytes) +
       ",\"interrupted\":" + std::to_string(f.interrupted) +
       ",\"uploads\":" + std::to_string(f.uploads) +
       ",\"upload_bytes\":" + std::to_string(f.upload_bytes) +
       ",\"upload_failures\":" + std::to_string(f.upload_failures) +
       ",\"blobs_seeded\":" + std::to_string(f.blobs_seeded) + "}";
  const fs::blob_store_stats c = fs.cache_stats();
  s += ",\"cache\":{\"backend\":" + json_quote(cfg.cache_dir.empty() ? "memory" : "directory") +
       ",\"limit\":" + std::to_string(c.limit) + ",\"bytes\":" + std::to_string(c.bytes) +
       ",\"blobs\":" + std::to_string(c.blobs) + ",\"pinned\":" + std::to_string(c.pinned) +
       ",\"evictions\":" + std::to_string(c.evictions) +
       ",\"uncached\":" + std::to_string(c.uncached) +
       ",\"reserved\":" + std::to_string(c.reserved) +
       ",\"memory_limit\":" + std::to_string(cfg.memory_limit) + "}";
  s += ",\"oss\":" + client.stats_json();
  s += "}";
  return s;
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
