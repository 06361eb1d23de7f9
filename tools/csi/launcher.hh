// Starting `ossuring mount` for a volume so that the mount outlives the plugin: the command
// runs in a session of its own (its daemon, which it forks, never belongs to the plugin's
// process group or session), and the credentials reach it as a config file on a sealed memfd
// (`-c /proc/self/fd/N`): never on a command line, in the environment or on a disk.
#pragma once

#include <string>
#include <vector>

#include "core/result.hh"

namespace ossuring::csi {

struct launch_result {
  int exit_code = -1;  // of `ossuring mount`: 0 once the mount serves
  std::string output;  // what it printed (its own messages; never a secret)
};

// Runs `ossuring` with `args` and waits for it (it returns once the mount is ready or has
// failed). `credentials` (config-file text, may be empty) is handed over as described above.
// A non-empty `cgroup` starts the mount in ossuring-mounts/`cgroup` outside the container's
// cgroup (cgroup_escape.hh), so that it outlives the container.
result<launch_result> run_ossuring(const std::string& ossuring, std::vector<std::string> args,
                                   const std::string& credentials, const std::string& cgroup);

}  // namespace ossuring::csi
