// Mount point checks and what the CLI says about mounts found dead, stacked or missing.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tools/cli/mountinfo.hh"

using namespace ossuring::cli;
using ossuring::status;

namespace {

std::string temp_dir() {
  char path[] = "/tmp/ossuring-mi-XXXXXX";
  REQUIRE(mkdtemp(path) != nullptr);
  return path;
}

}  // namespace

TEST_CASE("mountinfo lines give mount point, type and source, innermost ossuring mount wins") {
  std::string dir = temp_dir();
  std::string info = dir + "/mountinfo";
  std::ofstream(info)
      << "22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw\n"
         "40 22 0:40 / /mnt/data rw,nosuid,nodev - fuse.ossuring oss://bkt/train/ rw\n"
         "41 40 0:41 / /mnt/data/in\\040side rw - fuse.ossuring oss://other/ rw\n";
  std::optional<mount_entry> m = mount_at("/mnt/data", info);
  REQUIRE(m);
  CHECK(m->fstype == "fuse.ossuring");
  CHECK(m->source == "oss://bkt/train/");
  CHECK(unmount_command(*m) == "ossuring umount /mnt/data");
  CHECK_FALSE(mount_at("/mnt/data/sub", info));
  std::optional<mount_entry> c = ossuring_mount_containing("/mnt/data/sub/dir", info);
  REQUIRE(c);
  CHECK(c->mount_point == "/mnt/data");
  c = ossuring_mount_containing("/mnt/data/in side/x", info);
  REQUIRE(c);
  CHECK(c->source == "oss://other/");
  CHECK_FALSE(ossuring_mount_containing("/mnt/database", info));
  std::optional<mount_entry> root = mount_at("/", info);
  REQUIRE(root);
  CHECK(unmount_command(*root) == "umount /");
  std::remove(info.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("a missing mount point is said not to exist, a file not to be a directory") {
  std::string dir = temp_dir();
  std::string w;
  status s = check_mountpoint(dir + "/nope", false, &w);
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().message.find("does not exist") != std::string::npos);
  CHECK(s.err().message.find("mkdir -p " + dir + "/nope") != std::string::npos);
  std::string file = dir + "/f";
  std::ofstream(file) << "x";
  s = check_mountpoint(file, false, &w);
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().message.find("is not a directory") != std::string::npos);
  std::remove(file.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("a non-empty mount point is refused unless nonempty, which warns") {
  std::string dir = temp_dir();
  std::string w;
  CHECK(check_mountpoint(dir, false, &w).ok());
  CHECK(w.empty());
  std::ofstream(dir + "/keep.txt") << "x";
  status s = check_mountpoint(dir, false, &w);
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().message.find("is not empty") != std::string::npos);
  CHECK(s.err().message.find("keep.txt") != std::string::npos);
  CHECK(s.err().message.find("-o nonempty") != std::string::npos);
  CHECK(check_mountpoint(dir, true, &w).ok());
  CHECK(w.find("hides its files") != std::string::npos);
  std::remove((dir + "/keep.txt").c_str());
  rmdir(dir.c_str());
}

TEST_CASE("a mount point that already is a mount is refused, naming it and the undo") {
  // The root folder is a mount point on every system.
  std::string w;
  status s = check_mountpoint("/", true, &w);
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().message.find("already a mount point") != std::string::npos);
  CHECK(s.err().message.find("umount /") != std::string::npos);
}

TEST_CASE("a folder that is no ossuring mount is named as such") {
  std::string dir = temp_dir();
  CHECK(explain_unreachable(dir, "raw") == dir + " is not an ossuring mount");
  CHECK(explain_unreachable(dir + "/nope", "raw").find("No such file") != std::string::npos);
  rmdir(dir.c_str());
}
