// The running mount's view for the control socket: `stats` as one JSON document, and `warmup`
// (fetch files ahead of use) with progress lines.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "fs/filesystem.hh"
#include "fs/fuse/adapter.hh"
#include "fs/fuse/clones.hh"
#include "http/oss/client.hh"
#include "tools/cli/config.hh"
#include "tools/cli/control.hh"

namespace ossuring::cli {

struct mount_stats {
  const mount_config& cfg;
  fs::filesystem& fs;
  fs::fuse_ops& ops;
  oss::oss_client& client;
  std::chrono::steady_clock::time_point started;
  // Requests read per FUSE channel (one per reactor serving the mount).
  std::function<std::vector<fs::fuse_channel_stats>()> channels;
  // Requests served through FUSE over io_uring entries (0 when not in use).
  std::function<uint64_t()> uring_requests;
  // --supervise: daemons of this mount that died before the one answering (0 otherwise).
  unsigned restarts = 0;

  std::string to_json() const;
};

control_handler make_control_handler(mount_stats& view);

}  // namespace ossuring::cli
