// Moving a mount daemon's process into a cgroup outside the plugin's container (cgroup_escape.hh).
#include "tools/csi/cgroup_escape.hh"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace ossuring::csi {
namespace {

error sys_error(const std::string& what) {
  int e = errno;
  return make_error(e, what + ": " + std::strerror(e));
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

bool write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

std::string link_target(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

struct hierarchy {
  std::string controllers;  // "pids", "cpu,cpuacct", "name=systemd"; empty for cgroup v2
  std::string path;         // of this process in it
};

std::vector<hierarchy> own_hierarchies() {
  std::vector<hierarchy> out;
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) {
      continue;
    }
    out.push_back({line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

// A cgroup v1 cpuset group accepts no process until it has CPUs and memory nodes.
void inherit_cpuset(const std::string& parent, const std::string& child) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    std::string mine = child + "/" + file;
    if (::access(mine.c_str(), F_OK) == 0 && read_file(mine).empty()) {
      (void)write_file(mine, read_file(parent + "/" + file));
    }
  }
}

// Removes the cgroups of mounts that have ended (rmdir fails on a cgroup with processes).
void remove_empty_groups(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (e->d_type == DT_DIR && e->d_name[0] != '.') {
      names.push_back(e->d_name);
    }
  }
  ::closedir(d);
  for (const std::string& n : names) {
    ::rmdir((dir + "/" + n).c_str());
  }
}

// Joins ossuring-mounts/NAME of one hierarchy, mounted at `at` (in the private namespace).
status join(const hierarchy& h, const std::string& at, const std::string& name) {
  if (::mkdir(at.c_str(), 0700) != 0 && errno != EEXIST) {
    return sys_error("mkdir " + at);
  }
  int rc =
      h.controllers.empty()
          ? ::mount("cgroup2", at.c_str(), "cgroup2", 0, nullptr)
          : ::mount("cgroup", at.c_str(), "cgroup", 0,
                    (h.controllers.starts_with("name=") ? "none," + h.controllers : h.controllers)
                        .c_str());
  if (rc != 0) {
    return sys_error("mount cgroup hierarchy " + (h.controllers.empty() ? "v2" : h.controllers));
  }
  std::string top = at + "/" + mounts_cgroup;
  std::string group = top + "/" + name;
  status s;
  if (::mkdir(top.c_str(), 0755) != 0 && errno != EEXIST) {
    s = sys_error("mkdir " + top);
  } else {
    inherit_cpuset(at, top);
    remove_empty_groups(top);
    if (::mkdir(group.c_str(), 0755) != 0 && errno != EEXIST) {
      s = sys_error("mkdir " + group);
    } else {
      inherit_cpuset(top, group);
      // "0": the writing process itself (cgroup v1 and v2).
      if (!write_file(group + "/cgroup.procs", "0")) {
        s = sys_error("join " + group);
      }
    }
  }
  ::umount2(at.c_str(), MNT_DETACH);
  return s;
}

}  // namespace

status leave_container_cgroup(const std::string& name) {
  // In a PID namespace of its own the container's first process is 1; its death kills every
  // process of the namespace, whatever their cgroups.
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string me = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
  if (!me.empty() && link_target("/proc/1/exe") == me) {
    return make_error(EPERM,
                      "the plugin runs in a PID namespace of its own, so its mounts cannot outlive "
                      "its container: run it in the node's (hostPID: true), or without "
                      "--mounts-outlive-container");
  }
  int own_mnt = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (own_mnt < 0) {
    return sys_error("open /proc/self/ns/mnt");
  }
  // The node's cgroup namespace (cgroup v2 runtimes give containers one of their own, whose
  // root is the container's cgroup); the node's first process is ours to see with hostPID.
  std::string node_cgroup_ns = link_target("/proc/1/ns/cgroup");
  if (!node_cgroup_ns.empty() && link_target("/proc/self/ns/cgroup") != node_cgroup_ns) {
    int cg = ::open("/proc/1/ns/cgroup", O_RDONLY | O_CLOEXEC);
    if (cg < 0 || ::setns(cg, CLONE_NEWCGROUP) != 0) {
      status s = sys_error("enter the node's cgroup namespace");
      ::close(own_mnt);
      if (cg >= 0) {
        ::close(cg);
      }
      return s;
    }
    ::close(cg);
  }
  // A private mount namespace for the hierarchies' mounts (the container's /sys/fs/cgroup
  // shows only the container's own groups), left again before the exec: the mount the daemon
  // makes must appear in the container's namespace, whence it propagates to kubelet's.
  status s;
  if (::unshare(CLONE_NEWNS) != 0) {
    s = sys_error("unshare mount namespace");
  } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
             ::mount("tmpfs", "/tmp", "tmpfs", 0, "size=64k,mode=0700") != 0) {
    s = sys_error("private mounts");
  } else {
    int i = 0;
    for (const hierarchy& h : own_hierarchies()) {
      s = join(h, "/tmp/h" + std::to_string(i++), name);
      if (!s.ok()) {
        break;
      }
    }
  }
  if (::setns(own_mnt, CLONE_NEWNS) != 0 && s.ok()) {
    s = sys_error("return to the container's mount namespace");
  }
  ::close(own_mnt);
  return s;
}

int enter_cgroup_and_exec(const std::string& name, char** argv) {
  if (argv[0] == nullptr) {
    std::fprintf(stderr, "ossuring-csi: --enter-cgroup needs a program to run\n");
    return 2;
  }
  if (status s = leave_container_cgroup(name); !s.ok()) {
    std::fprintf(stderr, "ossuring-csi: cannot move the mount out of the container's cgroup: %s\n",
                 s.err().message.c_str());
    return 1;
  }
  ::execv(argv[0], argv);
  std::fprintf(stderr, "ossuring-csi: exec %s: %s\n", argv[0], std::strerror(errno));
  return 127;
}

}  // namespace ossuring::csi
