// `ossuring umount MOUNTPOINT [--lazy]`: unmounts an ossuring mount (also after a daemon crash).
#include <cstdio>

#include "fs/fuse/mount.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"

namespace ossuring::cli {

int cmd_umount(const args& a) {
  std::string mountpoint;
  bool lazy = false;
  for (const std::string& s : a) {
    if (s == "--lazy" || s == "-l" || s == "-z") {
      lazy = true;
    } else if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "ossuring umount: unknown option %s\n", s.c_str());
      return 2;
    } else {
      mountpoint = s;
    }
  }
  if (mountpoint.empty()) {
    std::fprintf(stderr, "usage: ossuring umount MOUNTPOINT [--lazy]\n");
    return 2;
  }
  if (!fs::is_ossuring_mount(mountpoint)) {
    if (stop_indexing_daemon(mountpoint)) {
      std::fprintf(stderr,
                   "ossuring umount: stopped the daemon for %s, which was still listing "
                   "the bucket (nothing was mounted yet)\n",
                   mountpoint.c_str());
      return 0;
    }
    std::fprintf(stderr, "ossuring umount: %s is not an ossuring mount\n", mountpoint.c_str());
    return 1;
  }
  status s = fs::unmount_path(mountpoint, lazy);
  if (!s.ok()) {
    std::fprintf(stderr, "ossuring umount: %s%s\n", s.err().message.c_str(),
                 s.err().code == EBUSY ? " (files open? try --lazy)" : "");
    return 1;
  }
  return 0;
}

}  // namespace ossuring::cli
