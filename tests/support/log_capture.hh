// log_capture: the log lines a test provokes, read back from a file the log points at meanwhile.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "core/log.hh"

namespace ossuring::test {

// The process's log goes to a file of its own while one of these lives (one at a time: the log
// is process-wide), and back to stderr after.
class log_capture {
 public:
  explicit log_capture(std::string_view tag)
      : _path("/tmp/ossuring-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".log") {
    std::remove(_path.c_str());
    REQUIRE(set_log_file(_path));
  }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  ~log_capture() {
    set_log_file("");
    std::remove(_path.c_str());
  }
  std::string text() const {
    std::ifstream in(_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string _path;
};

}  // namespace ossuring::test
