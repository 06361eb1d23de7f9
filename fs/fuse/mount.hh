// Kernel mount plumbing: open /dev/fuse, mount(2) as root or fusermount3 (libfuse3) otherwise,
// and unmount.
#pragma once

#include <string>
#include <vector>

#include "core/net.hh"
#include "core/result.hh"

namespace ossuring::fs {

struct mount_options {
  std::string mountpoint;
  std::string source = "ossuring";   // shown in /proc/mounts, e.g. oss://bucket/prefix
  std::string subtype = "ossuring";  // type fuse.ossuring
  bool read_only = true;
  bool allow_other = false;
  bool default_permissions = false;
  unsigned max_read = 0;  // 0 = kernel default
};

// A mounted FUSE connection: the /dev/fuse descriptor to serve, and how to undo the mount.
class fuse_mount {
 public:
  fuse_mount() = default;
  // Takes a mounted connection; `session` is libfuse3's when fusermount3 mounted it.
  fuse_mount(unique_fd fd, std::string mountpoint, void* session)
      : _fd(std::move(fd)), _mountpoint(std::move(mountpoint)), _session(session), _mounted(true) {}
  fuse_mount(fuse_mount&&) noexcept;
  fuse_mount& operator=(fuse_mount&&) noexcept;
  ~fuse_mount();

  int fd() const noexcept { return _fd.get(); }
  const std::string& mountpoint() const noexcept { return _mountpoint; }
  // Takes the mount point away (lazily when busy) but keeps the descriptor: requests already
  // read are still answered on it, and its number cannot be reused by another file meanwhile.
  // Idempotent.
  status detach();
  // detach(), then closes the descriptor: after the last reply is written.
  status unmount();

 private:
  unique_fd _fd;
  std::string _mountpoint;
  void* _session = nullptr;  // libfuse3 session when fusermount3 did the mount
  bool _mounted = false;
};

// Mounts with mount(2) when the process may (root), else through fusermount3. The fd is opened
// O_NONBLOCK so io_uring reads of an empty queue wait on poll instead of parking a worker.
result<fuse_mount> mount_fuse(const mount_options& opts);

// What mount_fuse() will need, checked before anything slow (the bucket's listing) starts:
// root can open /dev/fuse; another user has /dev/fuse, a set-uid fusermount3, write access to
// the mountpoint, and user_allow_other in /etc/fuse.conf when `opts.allow_other`. The error
// says what to change.
status check_fuse_access(const mount_options& opts);

// Unmounts a mountpoint from outside the daemon (`ossuring umount`): umount2, then a lazy
// detach when `lazy`, or fusermount3 -u when not root.
status unmount_path(const std::string& mountpoint, bool lazy);

// One line of /proc/self/mountinfo: where, what type, from what (escapes undone).
struct mount_entry {
  std::string mount_point;  // absolute, as the kernel shows it
  std::string fstype;       // e.g. fuse.ossuring, ext4
  std::string source;       // e.g. oss://bucket/prefix/, /dev/sda1
  bool is_ossuring() const { return fstype.rfind("fuse.ossuring", 0) == 0; }
};

// The mounts listed in `mountinfo_file`, in mount order (tests give another file).
std::vector<mount_entry> read_mount_table(
    const std::string& mountinfo_file = "/proc/self/mountinfo");

// True when `path` is a FUSE mount point of type fuse.ossuring (per /proc/self/mountinfo).
bool is_ossuring_mount(const std::string& path);

}  // namespace ossuring::fs
