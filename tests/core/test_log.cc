// Logging: lines to a file, rotation by size (log_file_max_size / log_file_max_count).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/log.hh"

using namespace ossuring;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/ossuring-logtest-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

uint64_t size_of(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

std::string read_all(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void cleanup(const std::string& dir) {
  for (const char* n : {"/x.log", "/x.log.1", "/x.log.2", "/x.log.3", "/x.log.4"}) {
    ::unlink((dir + n).c_str());
  }
  ::rmdir(dir.c_str());
}

}  // namespace

TEST_SUITE("log") {
  TEST_CASE("repeats of an info line are limited and counted; debug lines are all written") {
    const std::string dir = temp_dir();
    const std::string path = dir + "/x.log";
    const log_level before = get_log_level();
    set_log_level(log_level::debug);
    set_log_rate_limit(20);
    REQUIRE(set_log_file(path, 0, 1));
    for (int i = 0; i < 100; ++i) {
      log_write(log_level::debug, "limit_debug", {{"i", std::to_string(i)}});
      log_write(log_level::info, "limit_info", {{"i", std::to_string(i)}});
    }
    set_log_file("");
    set_log_level(before);
    const std::string text = read_all(path);
    size_t debug_lines = 0;
    size_t info_lines = 0;
    for (size_t at = 0; (at = text.find("event=limit_", at)) != std::string::npos; ++at) {
      (text.compare(at, 17, "event=limit_debug") == 0 ? debug_lines : info_lines) += 1;
    }
    CHECK(debug_lines == 100);
    // 20 a second: the loop may straddle a second's edge, never two.
    CHECK(info_lines >= 20);
    CHECK(info_lines <= 40);
    cleanup(dir);
  }

  TEST_CASE("a full log file is renamed .1, older ones shift, and at most max_count are kept") {
    const std::string dir = temp_dir();
    const std::string path = dir + "/x.log";
    set_log_rate_limit(0);
    REQUIRE(set_log_file(path, 1000, 3));
    for (int i = 0; i < 200; ++i) {
      log_write(log_level::info, "rotation_test", {{"i", std::to_string(i)}});
    }
    set_log_file("");
    set_log_rate_limit(20);
    CHECK(exists(path));
    CHECK(exists(path + ".1"));
    CHECK(exists(path + ".2"));
    CHECK_FALSE(exists(path + ".3"));  // three files in all
    // No file grows past the limit by more than the line that reached it.
    CHECK(size_of(path + ".1") < 1200);
    CHECK(size_of(path + ".2") < 1200);
    // The newest lines are in PATH, the ones before them in PATH.1.
    CHECK(read_all(path).find("i=199") != std::string::npos);
    CHECK(read_all(path + ".1").find("i=199") == std::string::npos);
    cleanup(dir);
  }

  TEST_CASE("max_count 1 empties the file instead of keeping an old one") {
    const std::string dir = temp_dir();
    const std::string path = dir + "/x.log";
    set_log_rate_limit(0);
    REQUIRE(set_log_file(path, 500, 1));
    for (int i = 0; i < 100; ++i) {
      log_write(log_level::info, "rotation_test", {{"i", std::to_string(i)}});
    }
    set_log_file("");
    set_log_rate_limit(20);
    CHECK_FALSE(exists(path + ".1"));
    CHECK(size_of(path) < 600);
    cleanup(dir);
  }

  TEST_CASE("max_size 0 never rotates") {
    const std::string dir = temp_dir();
    const std::string path = dir + "/x.log";
    set_log_rate_limit(0);
    REQUIRE(set_log_file(path, 0, 3));
    for (int i = 0; i < 100; ++i) {
      log_write(log_level::info, "rotation_test", {{"i", std::to_string(i)}});
    }
    set_log_file("");
    set_log_rate_limit(20);
    CHECK_FALSE(exists(path + ".1"));
    CHECK(size_of(path) > 3000);
    cleanup(dir);
  }

  TEST_CASE("a file moved away by another process is followed, not rotated again") {
    const std::string dir = temp_dir();
    const std::string path = dir + "/x.log";
    set_log_rate_limit(0);
    REQUIRE(set_log_file(path, 1000, 3));
    log_write(log_level::info, "before_move", {});
    // As a second process sharing PATH (or logrotate) would: PATH is moved to PATH.1.
    REQUIRE(::rename(path.c_str(), (path + ".1").c_str()) == 0);
    for (int i = 0; i < 20; ++i) {
      log_write(log_level::info, "rotation_test", {{"i", std::to_string(i)}});
    }
    set_log_file("");
    set_log_rate_limit(20);
    // Our first rotation found PATH moved: it reopened PATH and left PATH.1 where it was.
    CHECK(read_all(path + ".1").find("before_move") != std::string::npos);
    CHECK(read_all(path).find("i=19") != std::string::npos);
    cleanup(dir);
  }
}
