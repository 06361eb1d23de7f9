// `ossuring mount`'s settings derived from its configuration (mount_setup.hh).
#include "tools/cli/mount_setup.hh"

#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/log.hh"
#include "core/reactor_pool.hh"

namespace ossuring::cli {

fs::fs_options make_fs_options(const mount_config& cfg) {
  fs::fs_options o;
  o.mode = cfg.mode == "lazy" ? fs::fs_mode::lazy : fs::fs_mode::index;
  o.bucket = cfg.bucket;
  o.prefix = cfg.prefix;
  o.uid = cfg.uid_set ? cfg.uid : ::getuid();
  o.gid = cfg.gid_set ? cfg.gid : ::getgid();
  o.umask = cfg.umask;
  o.backing_files = parse_open_mode(cfg.open_mode) == fs::open_mode::passthrough;
  auto secs = [](double s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
  };
  if (o.mode == fs::fs_mode::index) {
    // The index is authoritative until refreshed: the kernel may cache entries for long.
    o.attr_timeout = o.entry_timeout = std::chrono::hours(24 * 365);
    if (cfg.refresh_s > 0) {
      o.attr_timeout = o.entry_timeout = std::chrono::seconds(cfg.refresh_s);
    }
  } else {
    o.attr_timeout = o.entry_timeout = secs(cfg.attr_timeout_s);
  }
  o.negative_timeout = secs(cfg.negative_timeout_s);
  o.oss_negative_cache_timeout = secs(cfg.negative_cache_timeout_s);
  o.oss_negative_cache_size = cfg.negative_cache_size;
  o.small_file_threshold = cfg.small_file_threshold;
  o.list_parallelism = cfg.list_concurrency;
  o.shared_index = cfg.shared_index;
  o.shared_index_interval = std::chrono::seconds(cfg.shared_index_interval_s);
  o.shared_index_wait = std::chrono::seconds(cfg.shared_index_wait_s);
  o.list_page_size = cfg.max_list_ret_count;
  o.readahead_min = std::min<uint64_t>(1 << 20, std::max<uint64_t>(cfg.readahead_max, 4096));
  o.readahead_max = std::max<uint64_t>(cfg.readahead_max, o.readahead_min);
  o.readahead_chunk = std::max<uint64_t>(cfg.prefetch_chunk_size, o.readahead_min);
  // Memory budget: without a cache folder, blobs take 3/4 of it and read-ahead windows 1/4;
  // with one, windows may use half (blobs are on disk, budgeted by --cache-size).
  o.buffer_limit = cfg.cache_dir.empty() ? cfg.memory_limit / 4 : cfg.memory_limit / 2;
  // With a cache folder, whole-object downloads take the other half in memory before they go
  // to disk (the folder's --cache-size is no memory budget).
  o.fetch_buffer_limit = cfg.cache_dir.empty() ? 0 : cfg.memory_limit / 2;
  o.prefetch_concurrency = std::max(1u, cfg.prefetch_concurrency);
  o.prefetch = cfg.prefetch == "dir"        ? fs::prefetch_policy::dir
               : cfg.prefetch == "siblings" ? fs::prefetch_policy::siblings
               : cfg.prefetch == "off"      ? fs::prefetch_policy::off
                                            : fs::prefetch_policy::adaptive;
  o.direct = cfg.direct;
  if (o.direct) {
    o.prefetch = fs::prefetch_policy::off;
  }
  if (!cfg.read_only) {
    o.writable = true;
    o.file_mode = 0644;
    o.dir_mode = 0755;
    o.multipart_threshold = cfg.multipart_threshold;
    o.part_size = cfg.part_size;
    o.copy_threshold = cfg.copy_threshold;
    o.background_upload = cfg.background_upload;
    o.upload_parallelism = cfg.upload_concurrency;
    // On disk by default: a file being written is staged whole until its upload, and a large
    // one staged in memory could exhaust the node's (or the pod's) memory.
    o.staging_dir = !cfg.staging_dir.empty() ? cfg.staging_dir
                    : !cfg.cache_dir.empty() ? cfg.cache_dir + "/staging"
                                             : "/var/tmp";
  }
  return o;
}

// Cached blobs hold no descriptor (fs/cache/blob_store.hh); open files' blobs, recently used cache
// files and passthrough memfds do: raise the soft limit to the hard one and give the store a
// share of it (the rest serves sockets and FUSE).
namespace {

uint64_t blob_fd_budget() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 512;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  uint64_t n = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
  return n > 8192 ? n - 4096 : n / 2;
}

}  // namespace

std::unique_ptr<fs::blob_store> make_blob_store(const mount_config& cfg) {
  std::unique_ptr<fs::blob_store> s;
  if (cfg.cache_dir.empty()) {
    s = std::make_unique<fs::memory_blob_store>(cfg.memory_limit - cfg.memory_limit / 4);
  } else {
    ::mkdir(cfg.cache_dir.c_str(), 0700);
    if (!cfg.read_only) {
      ::mkdir((cfg.cache_dir + "/staging").c_str(), 0700);  // files being written (O_TMPFILE)
    }
    uint64_t limit = cfg.cache_size ? cfg.cache_size : 10ull << 30;
    s = std::make_unique<fs::directory_blob_store>(cfg.cache_dir + "/blobs", limit);
  }
  s->set_descriptor_budget(blob_fd_budget());
  return s;
}

// The saved index of this endpoint/bucket/prefix, or "" when indexes are not kept. Kept only
// where asked (--index-dir, or inside --cache-dir): a default system-wide folder would let a
// different bucket behind the same endpoint name (a test emulator on a reused port) be served
// from a foreign index younger than --index-max-age.
std::string index_file(const mount_config& cfg) {
  std::string dir = cfg.index_dir;
  if (dir.empty() && !cfg.cache_dir.empty()) {
    dir = cfg.cache_dir + "/index";
  }
  if (dir.empty() || dir == "off") {
    return {};
  }
  ::mkdir(dir.c_str(), 0700);
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and builds
  for (const std::string& part : {cfg.endpoint, cfg.bucket, cfg.prefix}) {
    for (unsigned char c : part) {
      h = (h ^ c) * 1099511628211ull;
    }
    h = (h ^ 0xff) * 1099511628211ull;
  }
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.idx", static_cast<unsigned long long>(h));
  return dir + "/" + name;
}

result<std::vector<int>> reactor_cpus(const std::string& list) {
  result<std::vector<int>> parsed = parse_cpu_list(list);
  if (!parsed.ok()) {
    return parsed;
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    return parsed;
  }
  std::vector<int> cpus;
  for (int c : *parsed) {
    if (c < CPU_SETSIZE && CPU_ISSET(c, &allowed)) {
      cpus.push_back(c);
    } else {
      std::fprintf(stderr, "ossuring mount: CPU %d is not available here; no reactor for it\n", c);
    }
  }
  if (cpus.empty()) {
    return make_error(EINVAL, "none of the CPUs '" + list + "' is available");
  }
  return cpus;
}

fs::open_mode parse_open_mode(const std::string& s) {
  if (s == "noopen") {
    return fs::open_mode::noopen;
  }
  if (s == "read") {
    return fs::open_mode::read;
  }
  return fs::open_mode::passthrough;
}

}  // namespace ossuring::cli
