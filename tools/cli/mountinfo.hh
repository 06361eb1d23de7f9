// What is mounted where (/proc/self/mountinfo), and the checks a mount point passes before
// `ossuring mount` uses it; the advice the CLI gives when a mount is found dead or missing.
#pragma once

#include <optional>
#include <string>

#include "core/result.hh"
#include "fs/fuse/mount.hh"

namespace ossuring::cli {

using fs::mount_entry;

// `path` made absolute without following its last component (a dead FUSE mount point cannot
// be resolved): the parent's real path plus the last name.
std::string absolute_path(const std::string& path);

// The mount whose mount point is exactly `path` (the last one mounted there), if any. Reads
// `mountinfo_file` (tests give another).
std::optional<mount_entry> mount_at(const std::string& path,
                                    const std::string& mountinfo_file = "/proc/self/mountinfo");

// The innermost ossuring mount that contains `path` (its mount point or anything below).
std::optional<mount_entry> ossuring_mount_containing(
    const std::string& path, const std::string& mountinfo_file = "/proc/self/mountinfo");

// The command that undoes `m`: `ossuring umount MNT` for ours, `umount MNT` otherwise.
std::string unmount_command(const mount_entry& m);

// Refuses what `ossuring mount` cannot mount on, saying what to do: a missing folder, a file, a
// dead mount ("Transport endpoint is not connected"), a folder that already is a mount point,
// and a non-empty folder unless `nonempty` (then *warning says it hides files).
status check_mountpoint(const std::string& mountpoint, bool nonempty, std::string* warning);

// Why a control request to the daemon of `mountpoint` failed, for people: a dead mount, a
// folder that is no ossuring mount, else `err`.
std::string explain_unreachable(const std::string& mountpoint, const std::string& err);

}  // namespace ossuring::cli
