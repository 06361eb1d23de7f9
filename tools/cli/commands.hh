// The `ossuring` subcommands. Each takes the arguments after its name and returns the exit code
// (0 ok, 1 failure, 2 usage error); errors are printed to stderr with the key and request id.
#pragma once

#include <string>
#include <vector>

namespace ossuring::cli {

using args = std::vector<std::string>;

int cmd_mount(const args& a);  // tools/cli/cmd_mount.cc
// `ossuring SOURCE MOUNTPOINT -o OPTIONS`, as mount.fuse3 runs it: mount(8)'s implicit `rw` is
// set aside (tools/cli/config.hh, mount_form::helper).
int cmd_mount_helper(const args& a);  // tools/cli/cmd_mount.cc
int cmd_umount(const args& a);        // tools/cli/cmd_umount.cc
int cmd_stats(const args& a);         // tools/cli/cmd_stats.cc
int cmd_warmup(const args& a);        // tools/cli/cmd_warmup.cc
int cmd_refresh(const args& a);       // tools/cli/cmd_refresh.cc
int cmd_ls(const args& a);            // tools/cli/cmd_object.cc
int cmd_stat(const args& a);          // tools/cli/cmd_object.cc
int cmd_get(const args& a);           // tools/cli/cmd_object.cc
int cmd_put(const args& a);           // tools/cli/cmd_object.cc

}  // namespace ossuring::cli
