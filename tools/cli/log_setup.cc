// Where a mount's daemon writes its log (log_setup.hh).
#include "tools/cli/log_setup.hh"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ossuring::cli {

std::string default_log_dir(bool root, const char* xdg_state_home, const char* home) {
  if (root) {
    return "/var/log/ossuring";
  }
  if (xdg_state_home != nullptr && xdg_state_home[0] == '/') {
    return std::string(xdg_state_home) + "/ossuring";
  }
  if (home != nullptr && home[0] == '/') {
    return std::string(home) + "/.local/state/ossuring";
  }
  return "";
}

std::string log_file_name(const std::string& mountpoint) {
  std::string name;
  for (char c : mountpoint) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
    if (c == '/') {
      if (!name.empty() && name.back() != '-') {
        name += '-';
      }
    } else {
      name += plain ? c : '_';
    }
  }
  while (!name.empty() && name.back() == '-') {
    name.pop_back();
  }
  return "ossuring-" + (name.empty() ? std::string("root") : name) + ".log";
}

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) {
    return false;
  }
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) {
    return false;
  }
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

status make_dirs(const std::string& dir) {
  if (dir.empty()) {
    return make_error(EINVAL, "no folder");
  }
  for (size_t pos = 1;; ++pos) {
    pos = dir.find('/', pos);
    std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0750) != 0 && errno != EEXIST) {
      return make_error(errno, "cannot create " + part + ": " + std::strerror(errno));
    }
    if (pos == std::string::npos) {
      break;
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(ENOTDIR, dir + " is not a folder");
  }
  return {};
}

}  // namespace ossuring::cli
