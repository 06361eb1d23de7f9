// Mount configuration: ossfs 2.0 names, -o lists, config files, sizes and clear errors.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "tools/cli/config.hh"

using namespace ossuring::cli;

namespace {
mount_config parse_ok(std::vector<std::string> args) {
  auto r = parse_mount_args(args);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  return *r;
}
std::string parse_err(std::vector<std::string> args) {
  auto r = parse_mount_args(args);
  REQUIRE_FALSE(r.ok());
  return r.err().message;
}
std::string temp_file(const std::string& text, mode_t mode) {
  char path[] = "/tmp/ossuring-cfg-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  chmod(path, mode);
  return path;
}
}  // namespace

TEST_CASE("oss URL gives bucket and prefix with a trailing slash") {
  mount_config c = parse_ok({"oss://bkt/data/train", "/mnt/x", "--endpoint", "e:1"});
  CHECK(c.bucket == "bkt");
  CHECK(c.prefix == "data/train/");
  CHECK(c.mountpoint == "/mnt/x");
  CHECK(c.endpoint == "e:1");
  CHECK(c.mode == "index");
}

TEST_CASE("ossfs 2.0 option names work in -o lists and as --name=value") {
  mount_config c = parse_ok({"oss://b", "/m", "-o",
                             "oss_endpoint=h:9,attr_timeout=5,oss_negative_cache_timeout=2.5,"
                             "oss_negative_cache_size=7,allow_other,_netdev",
                             "--total_mem_limit=2G", "--uid=1000"});
  CHECK(c.endpoint == "h:9");
  CHECK(c.attr_timeout_s == doctest::Approx(5));
  CHECK(c.negative_cache_timeout_s == doctest::Approx(2.5));
  CHECK(c.negative_cache_size == 7);
  CHECK(c.allow_other);
  CHECK(c.memory_limit == (2ull << 30));
  CHECK(c.uid == 1000);
  CHECK(c.uid_set);
  REQUIRE(c.ignored.size() == 1);
  CHECK(c.ignored[0] == "_netdev");
}

TEST_CASE("config file lines are --name=value and a secret file must be private") {
  std::string f = temp_file(
      "# ossfs 2.0 style\n--oss_endpoint=oss-cn-hangzhou.aliyuncs.com\n--oss_bucket=b\n"
      "--oss_access_key_id=AK\n--oss_access_key_secret=SK\n\n",
      0600);
  mount_config c = parse_ok({"-c", f, "/mnt/y"});
  CHECK(c.bucket == "b");
  CHECK(c.access_key_secret == "SK");
  CHECK(c.mountpoint == "/mnt/y");
  chmod(f.c_str(), 0644);
  CHECK(parse_err({"-c", f, "/mnt/y"}).find("readable by others") != std::string::npos);
  unlink(f.c_str());
}

TEST_CASE("bad options are refused with a message naming them") {
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--no-such=1"}).find("no-such") !=
        std::string::npos);
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--uid=abc"}).find("uid") != std::string::npos);
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--http=3"}).find("--http") !=
        std::string::npos);
  CHECK(parse_err({"oss://b", "/m"}).find("endpoint") != std::string::npos);
  CHECK(parse_err({"b", "/m", "--endpoint=e"}).find("oss://") != std::string::npos);
  CHECK(parse_err({"oss://b", "/m", "--endpoint"}).find("needs a value") != std::string::npos);
}

TEST_CASE(
    "rw makes a writable lazy mount; index mode, odd part sizes and copy thresholds are refused") {
  mount_config ro = parse_ok({"oss://b", "/m", "--endpoint=e"});
  CHECK(ro.read_only);
  CHECK(ro.mode == "index");
  mount_config rw =
      parse_ok({"oss://b", "/m", "--endpoint=e", "-o", "rw,allow_other",
                "--multipart-threshold=16M", "--part-size=2M", "--copy-threshold=256M"});
  CHECK_FALSE(rw.read_only);
  CHECK(rw.mode == "lazy");
  CHECK(rw.multipart_threshold == 16u << 20);
  CHECK(rw.part_size == 2u << 20);
  CHECK(rw.copy_threshold == 256u << 20);
  CHECK(parse_ok({"oss://b", "/m", "--endpoint=e", "-o", "rw"}).copy_threshold == 1u << 30);
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "-o", "rw", "--copy-threshold=2G"})
            .find("--copy-threshold") != std::string::npos);
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "-o", "rw", "--mode=index"}).find("lazy") !=
        std::string::npos);
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "-o", "rw", "--part-size=50K"})
            .find("--part-size") != std::string::npos);
}

TEST_CASE("sizes and StrmVol's resourceLimit shorthand") {
  CHECK(*parse_size("4096") == 4096);
  CHECK(*parse_size("64k") == 65536);
  CHECK(*parse_size("8MiB") == 8ull << 20);
  CHECK(*parse_size("1.5g") == 3ull << 29);
  CHECK_FALSE(parse_size("12q").ok());
  CHECK_FALSE(parse_size("").ok());
  mount_config c = parse_ok({"oss://b", "/m", "--endpoint=e", "--resource-limit", "4c8g"});
  CHECK(c.cpus == "0-3");
  CHECK(c.memory_limit == (8ull << 30));
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "-o", "resourceLimit=xg"})
            .find("resourceLimit") != std::string::npos);
}

TEST_CASE("every option is listed in the help text") {
  std::string h = options_help();
  CHECK(h.find("--attr_timeout") != std::string::npos);
  CHECK(h.find("--oss_negative_cache_size") != std::string::npos);
  CHECK(h.find("--open-mode") != std::string::npos);
}
