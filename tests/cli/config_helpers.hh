// Helpers shared by the configuration tests: parse expecting success or an error, temp files.
#pragma once

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tools/cli/config.hh"

namespace ossuring::cli::test {

inline mount_config parse_ok(std::vector<std::string> args) {
  auto r = parse_mount_args(args);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  return *r;
}

inline mount_config parse_ok_form(std::vector<std::string> args, mount_form form) {
  auto r = parse_mount_args(args, form);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  return *r;
}

inline std::string parse_err(std::vector<std::string> args) {
  auto r = parse_mount_args(args);
  REQUIRE_FALSE(r.ok());
  return r.err().message;
}

// A file under /tmp holding `text`, with permission bits `mode`; the caller unlinks it.
inline std::string temp_file(const std::string& text, mode_t mode) {
  char path[] = "/tmp/ossuring-cfg-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  chmod(path, mode);
  return path;
}

}  // namespace ossuring::cli::test
