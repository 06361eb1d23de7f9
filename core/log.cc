// Structured logging implementation: formatting, rate limiting, destination.
#include "core/log.hh"

#include <atomic>
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
  FILE* out = stderr;
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
  if (l.burst != 0) {
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
  std::fwrite(line.data(), 1, line.size(), l.out);
  std::fflush(l.out);
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

bool set_log_file(const std::string& path) {
  logger& l = the_logger();
  std::lock_guard lock(l.mutex);
  FILE* f = stderr;
  if (!path.empty()) {
    f = std::fopen(path.c_str(), "ae");
    if (!f) {
      return false;
    }
  }
  if (l.out != stderr) {
    std::fclose(l.out);
  }
  l.out = f;
  return true;
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
