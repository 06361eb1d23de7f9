// /proc/self/mountinfo lookups and mount point checks with messages that say what to do next.
#include "tools/cli/mountinfo.hh"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace ossuring::cli {

namespace {

bool inside(const std::string& path, const std::string& root) {
  if (root == "/") {
    return true;
  }
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

}  // namespace

std::string absolute_path(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') {
    p.pop_back();
  }
  char real[PATH_MAX];
  if (::realpath(p.c_str(), real)) {
    return real;
  }
  size_t slash = p.rfind('/');
  std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  if (::realpath(parent.c_str(), real)) {
    std::string r = real;
    return (r == "/" ? "" : r) + "/" + name;
  }
  return p;
}

std::optional<mount_entry> mount_at(const std::string& path, const std::string& mountinfo_file) {
  const std::string abs = absolute_path(path);
  std::optional<mount_entry> found;
  for (mount_entry& e : fs::read_mount_table(mountinfo_file)) {
    if (e.mount_point == abs) {
      found = std::move(e);  // later lines are mounted on top
    }
  }
  return found;
}

std::optional<mount_entry> ossuring_mount_containing(const std::string& path,
                                                     const std::string& mountinfo_file) {
  const std::string abs = absolute_path(path);
  std::optional<mount_entry> found;
  for (mount_entry& e : fs::read_mount_table(mountinfo_file)) {
    if (e.is_ossuring() && inside(abs, e.mount_point) &&
        (!found || e.mount_point.size() >= found->mount_point.size())) {
      found = std::move(e);
    }
  }
  return found;
}

std::string unmount_command(const mount_entry& m) {
  return (m.is_ossuring() ? "ossuring umount " : "umount ") + m.mount_point;
}

status check_mountpoint(const std::string& mountpoint, bool nonempty, std::string* warning) {
  struct stat st {};
  if (::stat(mountpoint.c_str(), &st) != 0) {
    int e = errno;
    if (e == ENOENT) {
      return make_error(ENOENT, "mountpoint " + mountpoint +
                                    " does not exist: create the folder first (mkdir -p " +
                                    mountpoint + ")");
    }
    if (e == ENOTCONN) {
      return make_error(ENOTCONN, "mountpoint " + mountpoint +
                                      " is a mount whose daemon has exited (Transport endpoint "
                                      "is not connected): run `ossuring umount " +
                                      mountpoint + "` first");
    }
    return make_error(e, "mountpoint " + mountpoint + ": " + std::strerror(e));
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ENOTDIR, "mountpoint " + mountpoint + " is not a directory");
  }
  if (std::optional<mount_entry> m = mount_at(mountpoint)) {
    return make_error(EBUSY, "mountpoint " + mountpoint + " is already a mount point (" +
                                 m->fstype + " " + m->source + " is mounted there): run `" +
                                 unmount_command(*m) + "` first, or choose another folder");
  }
  DIR* d = ::opendir(mountpoint.c_str());
  if (d == nullptr) {
    return {};  // the mount itself reports what it cannot do
  }
  std::string first;
  size_t entries = 0;
  while (dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) {
      continue;
    }
    if (entries++ == 0) {
      first = de->d_name;
    }
  }
  ::closedir(d);
  if (entries == 0) {
    return {};
  }
  std::string what = "mountpoint " + mountpoint + " is not empty (" + std::to_string(entries) +
                     (entries == 1 ? " entry: " : " entries, e.g. ") + first +
                     "): the mount hides its files";
  if (!nonempty) {
    return make_error(ENOTEMPTY,
                      what + "; use an empty folder, or add -o nonempty to mount over them");
  }
  *warning = what + " (-o nonempty)";
  return {};
}

std::string explain_unreachable(const std::string& mountpoint, const std::string& err) {
  struct stat st {};
  if (::stat(mountpoint.c_str(), &st) != 0 && errno == ENOTCONN) {
    return "the daemon serving " + mountpoint +
           " has exited (Transport endpoint is not connected): run `ossuring umount " + mountpoint +
           "`, then mount again";
  }
  std::optional<mount_entry> m = mount_at(mountpoint);
  if (!m || !m->is_ossuring()) {
    if (::stat(mountpoint.c_str(), &st) != 0) {
      return mountpoint + ": " + std::strerror(errno);
    }
    if (std::optional<mount_entry> outer = ossuring_mount_containing(mountpoint)) {
      return mountpoint + " is inside the ossuring mount " + outer->mount_point +
             ": name the mount point, " + outer->mount_point;
    }
    return mountpoint + " is not an ossuring mount" +
           (m ? " (" + m->fstype + " " + m->source + " is mounted there)" : std::string());
  }
  return err;
}

}  // namespace ossuring::cli
