// Structured logging: one line per event, `key=value` fields, levels, rate-limited repeats.
//
// Lines look like `ts=2026-11-23T10:00:00.123Z level=warn event=get_failed key="a b" errno=5
// request_id=5F3A...`. Each event name may log at most `burst` info, warn or error lines per
// second; the rest are counted and reported as `suppressed=N` on the next line that gets
// through. Debug and trace lines are never suppressed. Thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ossuring {

enum class log_level { trace = 0, debug, info, warn, error, off };

using log_field = std::pair<std::string_view, std::string_view>;

void log_write(log_level level, std::string_view event, std::initializer_list<log_field> fields);

void set_log_level(log_level level);
log_level get_log_level();
// Parses trace|debug|info|warn|warning|error|off; returns false on anything else.
bool parse_log_level(std::string_view s, log_level* out);
// Lines go to stderr by default; a path opens that file for appending ("" = stderr).
// Rotation (ossfs 2.0's log_file_max_size / log_file_max_count): once the file holds
// `max_size` bytes (0 = never rotate) it is renamed PATH.1 (PATH.1 becomes PATH.2, ...) and a
// new PATH is started; at most `max_count` files are kept in all, PATH included (1: PATH is
// emptied instead). Several processes may share PATH (a supervisor and its workers): a process
// whose PATH was already rotated by another, or by logrotate, reopens it instead of rotating.
bool set_log_file(const std::string& path, uint64_t max_size = 0, unsigned max_count = 0);
// The descriptor lines are written to (STDERR_FILENO when no file is set).
int log_fd();
// At most `burst` info, warn and error lines per event name per second (0 disables the limit).
void set_log_rate_limit(unsigned burst);
// Lines written since start (for tests).
uint64_t log_lines_written();

inline bool log_enabled(log_level level) {
  return level >= get_log_level();
}

inline void log_debug(std::string_view event, std::initializer_list<log_field> fields = {}) {
  if (log_enabled(log_level::debug)) {
    log_write(log_level::debug, event, fields);
  }
}
inline void log_info(std::string_view event, std::initializer_list<log_field> fields = {}) {
  if (log_enabled(log_level::info)) {
    log_write(log_level::info, event, fields);
  }
}
inline void log_warn(std::string_view event, std::initializer_list<log_field> fields = {}) {
  if (log_enabled(log_level::warn)) {
    log_write(log_level::warn, event, fields);
  }
}
inline void log_error(std::string_view event, std::initializer_list<log_field> fields = {}) {
  if (log_enabled(log_level::error)) {
    log_write(log_level::error, event, fields);
  }
}

// Formats a field value: bare when it is a simple token, quoted and escaped otherwise.
std::string log_quote(std::string_view value);

}  // namespace ossuring
