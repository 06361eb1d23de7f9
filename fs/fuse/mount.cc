// Kernel mount plumbing: mount(2) for root, libfuse3's fuse_session_mount (fusermount3) else.
#define FUSE_USE_VERSION 35
#include "fs/fuse/mount.hh"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ossuring::fs {

fuse_mount::fuse_mount(fuse_mount&& o) noexcept
    : _fd(std::move(o._fd)),
      _mountpoint(std::move(o._mountpoint)),
      _session(std::exchange(o._session, nullptr)),
      _mounted(std::exchange(o._mounted, false)) {}

fuse_mount& fuse_mount::operator=(fuse_mount&& o) noexcept {
  if (this != &o) {
    (void)unmount();
    _fd = std::move(o._fd);
    _mountpoint = std::move(o._mountpoint);
    _session = std::exchange(o._session, nullptr);
    _mounted = std::exchange(o._mounted, false);
  }
  return *this;
}

fuse_mount::~fuse_mount() {
  (void)unmount();
}

status fuse_mount::detach() {
  if (!_mounted) {
    return {};
  }
  _mounted = false;
  if (_session) {
    // libfuse closes its own descriptor here (ours is a duplicate) and runs fusermount3 -u -z.
    auto* se = static_cast<fuse_session*>(_session);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    _session = nullptr;
    return {};
  }
  // Closing the device first would abort the connection; unmount, then close.
  if (::umount2(_mountpoint.c_str(), 0) != 0 && errno != EINVAL && errno != ENOENT) {
    int e = errno;
    if (e == EPERM) {
      // Not root: a connection fusermount3 mounted and this process adopted (--supervise).
      return unmount_path(_mountpoint, true);
    }
    if (::umount2(_mountpoint.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
      return make_error(e, "unmount " + _mountpoint + ": " + std::strerror(e));
    }
  }
  return {};
}

status fuse_mount::unmount() {
  status st = detach();
  _fd.reset();
  return st;
}

namespace {

result<fuse_mount> mount_as_root(const mount_options& opts) {
  unique_fd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    int e = errno;
    return make_error(e, std::string("open /dev/fuse: ") + std::strerror(e));
  }
  struct stat st {};
  if (::stat(opts.mountpoint.c_str(), &st) != 0) {
    int e = errno;
    return make_error(e, "mountpoint " + opts.mountpoint + ": " + std::strerror(e));
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ENOTDIR, "mountpoint " + opts.mountpoint + " is not a directory");
  }
  std::ostringstream data;
  data << "fd=" << fd.get() << ",rootmode=40000,user_id=" << ::getuid()
       << ",group_id=" << ::getgid();
  if (opts.allow_other) {
    data << ",allow_other";
  }
  if (opts.default_permissions) {
    data << ",default_permissions";
  }
  if (opts.max_read) {
    data << ",max_read=" << opts.max_read;
  }
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOATIME;
  if (opts.read_only) {
    flags |= MS_RDONLY;
  }
  std::string type = "fuse." + opts.subtype;
  if (::mount(opts.source.c_str(), opts.mountpoint.c_str(), type.c_str(), flags,
              data.str().c_str()) != 0) {
    int e = errno;
    return make_error(e, "mount " + opts.mountpoint + ": " + std::strerror(e));
  }
  return fuse_mount(std::move(fd), opts.mountpoint, nullptr);
}

result<fuse_mount> mount_with_fusermount(const mount_options& opts) {
  // libfuse3 drives fusermount3 for us; we only keep its session for the fd and the unmount.
  std::vector<std::string> argv_s = {"ossuring", "-o",
                                     "fsname=" + opts.source + ",subtype=" + opts.subtype};
  if (opts.allow_other) {
    argv_s.back() += ",allow_other";
  }
  if (opts.default_permissions) {
    argv_s.back() += ",default_permissions";
  }
  if (opts.read_only) {
    argv_s.back() += ",ro";
  }
  std::vector<char*> argv;
  for (std::string& s : argv_s) {
    argv.push_back(s.data());
  }
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_lowlevel_ops ops{};
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
  if (!se) {
    return make_error(EINVAL, "fuse_session_new failed");
  }
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return make_error(EPERM, "fusermount3 could not mount " + opts.mountpoint +
                                 " (is /dev/fuse accessible and fuse3 installed?)");
  }
  int fd = fuse_session_fd(se);
  int fl = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  // Served through a duplicate: the session closes its own at the unmount, and ours stays
  // until the last reply is written (fuse_mount::detach).
  unique_fd own(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!own) {
    int e = errno;
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return make_error(e, std::string("dup of the FUSE descriptor: ") + std::strerror(e));
  }
  return fuse_mount(std::move(own), opts.mountpoint, se);
}

}  // namespace

result<fuse_mount> mount_fuse(const mount_options& opts) {
  if (::geteuid() == 0) {
    return mount_as_root(opts);
  }
  return mount_with_fusermount(opts);
}

status check_fuse_access(const mount_options& opts) {
  if (::geteuid() == 0) {
    unique_fd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!fd) {
      int e = errno;
      return make_error(e, std::string("cannot open /dev/fuse: ") + std::strerror(e) +
                               (e == ENOENT ? " (load the module: modprobe fuse; in a container, "
                                              "pass the device: --device /dev/fuse)"
                                            : " (in a container, allow the device: "
                                              "--device /dev/fuse and the SYS_ADMIN capability)"));
    }
    return {};
  }
  struct stat st {};
  if (::stat("/dev/fuse", &st) != 0) {
    return make_error(ENODEV, "no /dev/fuse on this machine (modprobe fuse, as root)");
  }
  // libfuse runs fusermount3 from its install folder, else from PATH; it must be set-uid root.
  std::string helper;
  for (const char* p : {"/usr/bin/fusermount3", "/bin/fusermount3", "/usr/local/bin/fusermount3"}) {
    if (::stat(p, &st) == 0) {
      helper = p;
      break;
    }
  }
  if (helper.empty()) {
    return make_error(ENOENT,
                      "fusermount3 not found: a user other than root mounts through it "
                      "(apt-get install fuse3)");
  }
  if (st.st_uid != 0 || !(st.st_mode & S_ISUID)) {
    return make_error(EPERM, helper +
                                 " is not set-uid root: a user other than root cannot mount "
                                 "(reinstall fuse3, or mount as root)");
  }
  if (::access(opts.mountpoint.c_str(), W_OK) != 0) {
    return make_error(EACCES, "cannot mount on " + opts.mountpoint +
                                  ": fusermount3 needs write access to it for a user other "
                                  "than root (chown it to yourself)");
  }
  if (opts.allow_other) {
    bool allowed = false;
    if (FILE* f = std::fopen("/etc/fuse.conf", "re")) {
      char line[256];
      while (std::fgets(line, sizeof line, f)) {
        std::string_view l = line;
        while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) {
          l.remove_prefix(1);
        }
        allowed = allowed || l.starts_with("user_allow_other");
      }
      std::fclose(f);
    }
    if (!allowed) {
      return make_error(EPERM,
                        "allow_other for a user other than root needs user_allow_other "
                        "in /etc/fuse.conf");
    }
  }
  return {};
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<mount_entry> read_mount_table(const std::string& mountinfo_file) {
  std::vector<mount_entry> out;
  std::ifstream in(mountinfo_file);
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    std::istringstream ls(line);
    std::string id, parent, dev, root, mp;
    ls >> id >> parent >> dev >> root >> mp;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) {
      continue;
    }
    std::istringstream rest(line.substr(dash + 3));
    mount_entry e;
    rest >> e.fstype >> e.source;
    e.mount_point = unescape_mountinfo(mp);
    e.source = unescape_mountinfo(e.source);
    out.push_back(std::move(e));
  }
  return out;
}

bool is_ossuring_mount(const std::string& path) {
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) {
    return false;
  }
  for (const mount_entry& e : read_mount_table()) {
    if (e.mount_point == real && e.is_ossuring()) {
      return true;
    }
  }
  return false;
}

status unmount_path(const std::string& mountpoint, bool lazy) {
  if (::geteuid() != 0) {
    std::string cmd = std::string("fusermount3 -u ") + (lazy ? "-z " : "") + "'" + mountpoint + "'";
    int rc = std::system(cmd.c_str());
    if (rc != 0) {
      return make_error(EBUSY, "fusermount3 -u " + mountpoint + " failed");
    }
    return {};
  }
  if (::umount2(mountpoint.c_str(), lazy ? MNT_DETACH : 0) != 0) {
    int e = errno;
    return make_error(e, "unmount " + mountpoint + ": " + std::strerror(e));
  }
  return {};
}

}  // namespace ossuring::fs
