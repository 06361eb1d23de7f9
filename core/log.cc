// Structured logging implementation: formatting, rate limiting, destination.
#include "core/log.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ossuring {

namespace {

struct rate_state {
  int64_t window_sec = 0;
  unsigned used = 0;
  uint64_t suppressed = 0;
};

struct logger {
  std::mutex mutex;
  std::atomic<int> level{static_cast<int>(log_level::info)};
  int fd = STDERR_FILENO;
  std::string path;       // "" = stderr
  uint64_t max_size = 0;  // 0: never rotate
  unsigned max_count = 0;
  uint64_t size = 0;  // of the file `fd` names, as far as this process knows
  unsigned burst = 20;
  std::unordered_map<std::string, rate_state> rates;
  std::atomic<uint64_t> lines{0};
};

logger& the_logger() {
  static logger l;
  return l;
}

const char* level_name(log_level l) {
  switch (l) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
    case log_level::off:
      return "off";
  }
  return "?";
}

bool is_bare(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '@' || c == '+';
    if (!ok) {
      return false;
    }
  }
  return true;
}

int open_log(const std::string& path, int extra_flags) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | extra_flags, 0640);
}

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // a full disk loses lines, never the daemon
    }
    done += static_cast<size_t>(n);
  }
}

// Called with the mutex held once `l.size` reached `l.max_size`.
void rotate(logger& l) {
  struct stat ours {};
  struct stat named {};
  const bool same = ::fstat(l.fd, &ours) == 0 && ::stat(l.path.c_str(), &named) == 0 &&
                    ours.st_dev == named.st_dev && ours.st_ino == named.st_ino;
  if (same && static_cast<uint64_t>(ours.st_size) < l.max_size) {
    l.size = static_cast<uint64_t>(ours.st_size);  // someone emptied it (copytruncate)
    return;
  }
  int flags = 0;
  if (same && l.max_count <= 1) {
    flags = O_TRUNC;
  } else if (same) {
    for (unsigned i = l.max_count - 1; i >= 1; --i) {
      std::string from = i == 1 ? l.path : l.path + "." + std::to_string(i - 1);
      (void)::rename(from.c_str(), (l.path + "." + std::to_string(i)).c_str());
    }
  }
  // Not `same`: another process (or logrotate) moved PATH away already; follow it.
  int fd = open_log(l.path, flags);
  if (fd < 0) {
    l.size = 0;  // keep writing where we were; try again after max_size more bytes
    return;
  }
  ::close(l.fd);
  l.fd = fd;
  struct stat now {};
  l.size = ::fstat(fd, &now) == 0 ? static_cast<uint64_t>(now.st_size) : 0;
}

}  // namespace

std::string log_quote(std::string_view v) {
  if (is_bare(v)) {
    return std::string(v);
  }
  std::string s = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      s += '\\';
      s += static_cast<char>(c);
    } else if (c == '\n') {
      s += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      s += buf;
    } else {
      s += static_cast<char>(c);
    }
  }
  s += '"';
  return s;
}

void log_write(log_level level, std::string_view event, std::initializer_list<log_field> fields) {
  logger& l = the_logger();
  auto now = std::chrono::system_clock::now();
  int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t sec = ms / 1000;

  std::lock_guard lock(l.mutex);
  uint64_t suppressed = 0;
  // Debug and trace lines are all written: a user who asked for them wants every one (a
  // benchmark reads the index build's schedule from them), and nobody runs them by default.
  if (l.burst != 0 && level >= log_level::info) {
    rate_state& r = l.rates[std::string(event)];
    if (r.window_sec != sec) {
      r.window_sec = sec;
      r.used = 0;
    }
    if (r.used >= l.burst) {
      ++r.suppressed;
      return;
    }
    ++r.used;
    suppressed = r.suppressed;
    r.suppressed = 0;
  }

  std::time_t t = static_cast<std::time_t>(sec);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  std::string line = "ts=";
  line += ts;
  line += " level=";
  line += level_name(level);
  line += " event=";
  line += log_quote(event);
  for (const log_field& f : fields) {
    line += ' ';
    line += f.first;
    line += '=';
    line += log_quote(f.second);
  }
  if (suppressed != 0) {
    line += " suppressed=" + std::to_string(suppressed);
  }
  line += '\n';
  write_all(l.fd, line);
  l.size += line.size();
  if (l.max_size != 0 && !l.path.empty() && l.size >= l.max_size) {
    rotate(l);
  }
  l.lines.fetch_add(1, std::memory_order_relaxed);
}

void set_log_level(log_level level) {
  the_logger().level.store(static_cast<int>(level));
}

log_level get_log_level() {
  return static_cast<log_level>(the_logger().level.load());
}

bool parse_log_level(std::string_view s, log_level* out) {
  static const std::pair<std::string_view, log_level> names[] = {
      {"trace", log_level::trace}, {"debug", log_level::debug},  {"info", log_level::info},
      {"warn", log_level::warn},   {"warning", log_level::warn}, {"error", log_level::error},
      {"off", log_level::off}};
  for (const auto& [name, level] : names) {
    if (s == name) {
      *out = level;
      return true;
    }
  }
  return false;
}

bool set_log_file(const std::string& path, uint64_t max_size, unsigned max_count) {
  logger& l = the_logger();
  std::lock_guard lock(l.mutex);
  int fd = STDERR_FILENO;
  uint64_t size = 0;
  if (!path.empty()) {
    fd = open_log(path, 0);
    if (fd < 0) {
      return false;
    }
    struct stat st {};
    size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  if (l.fd != STDERR_FILENO) {
    ::close(l.fd);
  }
  l.fd = fd;
  l.path = path;
  l.max_size = max_size;
  l.max_count = max_count;
  l.size = size;
  return true;
}

int log_fd() {
  logger& l = the_logger();
  std::lock_guard lock(l.mutex);
  return l.fd;
}

void set_log_rate_limit(unsigned burst) {
  logger& l = the_logger();
  std::lock_guard lock(l.mutex);
  l.burst = burst;
}

uint64_t log_lines_written() {
  return the_logger().lines.load();
}

}  // namespace ossuring
