// The running mount's view: its counters in the metrics registry, and for the control socket
// `stats` as one JSON document and `warmup` (fetch files ahead of use) with progress lines.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/metrics.hh"
#include "fs/filesystem.hh"
#include "fs/fuse/adapter.hh"
#include "fs/fuse/clones.hh"
#include "http/oss/client.hh"
#include "tools/cli/config.hh"
#include "tools/cli/control.hh"

namespace ossuring::cli {

// Registers the mount's counters (FUSE requests, file-system work, cache fill) in the metrics
// registry for as long as it lives, read through the file system's and adapter's accessors;
// the registry renders them for the metrics endpoint and, laid out as the stats document, for
// the control socket. Every metric is listed in docs/metrics.md.
class mount_stats {
 public:
  mount_stats(const mount_config& cfg, fs::filesystem& fs, fs::fuse_ops& ops,
              oss::oss_client& client, std::chrono::steady_clock::time_point started,
              std::function<std::vector<fs::fuse_channel_stats>()> channels,
              std::function<uint64_t()> uring_requests, unsigned restarts);
  mount_stats(const mount_stats&) = delete;
  mount_stats& operator=(const mount_stats&) = delete;

  const mount_config& cfg;
  fs::filesystem& fs;
  fs::fuse_ops& ops;
  oss::oss_client& client;  // its per-API metrics are in the registry already
  std::chrono::steady_clock::time_point started;
  // Requests read per FUSE channel (one per reactor serving the mount).
  std::function<std::vector<fs::fuse_channel_stats>()> channels;
  // Requests served through FUSE over io_uring entries (0 when not in use).
  std::function<uint64_t()> uring_requests;
  // --supervise: daemons of this mount that died before the one answering (0 otherwise).
  unsigned restarts = 0;

  // The stats document: {"mount":{..},"fuse":{..},"fs":{..},"cache":{..},"oss":{API:{..}}}.
  std::string to_json() const;

 private:
  std::vector<metric_handle> _registered;  // last: unregistered before the references go
};

control_handler make_control_handler(mount_stats& view);

}  // namespace ossuring::cli
