// The mount daemon: what `ossuring mount` runs once its options are parsed and checked, in the
// foreground, in the forked background process, or as each worker of a supervisor.
#pragma once

#include <vector>

#include "fs/fuse/supervisor.hh"
#include "tools/cli/config.hh"

namespace ossuring::cli {

// SIGINT/SIGTERM through a signalfd, the reactor(s) (`cpus` empty: one, unpinned), the mount
// served until unmounted or signalled. `ready_fd`: the waiting parent's pipe ("ok" or an error
// line once the mount is ready or failed), or -1. `link` and `restore`: a supervised worker's
// (fs/fuse/supervisor.hh). Returns the exit code.
int run_daemon(const mount_config& cfg, const std::vector<int>& cpus, int ready_fd,
               fs::fuse::supervisor_link link, const fs::fuse::restore_state* restore);

}  // namespace ossuring::cli
