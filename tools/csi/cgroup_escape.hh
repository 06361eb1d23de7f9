// Taking a mount daemon out of the plugin container's cgroup, so that removing the container
// (which kills every process of its cgroup) leaves the pods' mounts serving (docs/kubernetes.md,
// "Upgrades and restarts").
//
// The plugin does not move processes itself: it starts `ossuring-csi --enter-cgroup=NAME
// PROGRAM ARGS...` (a single-threaded step before `ossuring mount`), which moves itself into
// ossuring-mounts/NAME under the root of every cgroup hierarchy of the node and then execs
// PROGRAM; the mount daemon that PROGRAM forks is born there. Race-free: nothing is forked before
// the move. This survives the container only in the node's PID namespace (DaemonSet hostPID):
// in a PID namespace of its own the daemon dies with the namespace's first process whatever its
// cgroup, so the step refuses to run there.
#pragma once

#include <string>

#include "core/result.hh"

namespace ossuring::csi {

// The folder under each hierarchy's root that holds the mounts' cgroups.
inline constexpr const char* mounts_cgroup = "ossuring-mounts";

// Moves the calling process (which must be single-threaded and privileged: CAP_SYS_ADMIN)
// into ossuring-mounts/`name` in every hierarchy listed in /proc/self/cgroup. Mounts the
// hierarchies in a private mount namespace and returns to the caller's afterwards, so nothing
// is left mounted. Empty cgroups of earlier mounts in ossuring-mounts/ are removed on the way.
status leave_container_cgroup(const std::string& name);

// `ossuring-csi --enter-cgroup=NAME PROGRAM ARGS...`: leave_container_cgroup(NAME), then exec
// PROGRAM. argv points at PROGRAM. Returns only on failure (the exit code), having said why.
int enter_cgroup_and_exec(const std::string& name, char** argv);

}  // namespace ossuring::csi
