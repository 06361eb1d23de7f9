// `ossuring umount MOUNTPOINT [--lazy] [--wait SECONDS]`: unmounts an ossuring mount (also after
// a daemon crash) and waits for its daemon to finish what it still has to write.
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "fs/fuse/mount.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"

namespace ossuring::cli {

int cmd_umount(const args& a) {
  std::string mountpoint;
  bool lazy = false;
  long wait_s = 60;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    if (s == "--lazy" || s == "-l" || s == "-z") {
      lazy = true;
    } else if (s == "--wait" || s.rfind("--wait=", 0) == 0) {
      std::string v = s == "--wait" ? (i + 1 < a.size() ? a[++i] : "") : s.substr(7);
      char* end = nullptr;
      errno = 0;
      wait_s = v.empty() || v[0] < '0' || v[0] > '9' ? -1 : std::strtol(v.c_str(), &end, 10);
      if (wait_s < 0 || errno != 0 || *end != '\0' || wait_s > 86400) {
        std::fprintf(stderr, "ossuring umount: --wait takes whole seconds, 0 to 86400: '%s'\n",
                     v.c_str());
        return 2;
      }
    } else if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "ossuring umount: unknown option %s\n", s.c_str());
      return 2;
    } else {
      mountpoint = s;
    }
  }
  if (mountpoint.empty()) {
    std::fprintf(stderr, "usage: ossuring umount MOUNTPOINT [--lazy] [--wait SECONDS]\n");
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
  // A lazy unmount leaves open files served: the daemon ends only when they close.
  unique_fd daemon = lazy || wait_s == 0 ? unique_fd() : daemon_pidfd(mountpoint);
  status s = fs::unmount_path(mountpoint, lazy);
  if (!s.ok()) {
    std::fprintf(stderr, "ossuring umount: %s%s\n", s.err().message.c_str(),
                 s.err().code == EBUSY ? " (files open? try --lazy)" : "");
    return 1;
  }
  if (daemon) {
    // The daemon exits once its uploads and the saved index are written: returning only then
    // means a script that unmounts finds its files in the bucket.
    if (!wait_for_exit(daemon, static_cast<int>(wait_s * 1000))) {
      std::fprintf(stderr,
                   "ossuring umount: unmounted %s; its daemon is still finishing after %ld s "
                   "(uploads in flight?) and goes on in the background\n",
                   mountpoint.c_str(), wait_s);
    }
  }
  return 0;
}

}  // namespace ossuring::cli
