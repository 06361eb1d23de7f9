// Mount configuration: ossfs 2.0 names, -o lists, config files, sizes and clear errors.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/cli/config_helpers.hh"
#include "tools/cli/config.hh"
#include "tools/cli/detail/config_options.hh"

using namespace ossuring::cli;

using test::parse_err;
using test::parse_ok;
using test::parse_ok_form;
using test::temp_file;

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

TEST_CASE("the default open mode follows where blobs live: passthrough on disk, noopen in memory") {
  CHECK(parse_ok({"oss://b", "/m", "--endpoint=e"}).open_mode == "noopen");
  const std::string on_disk =
      parse_ok({"oss://b", "/m", "--endpoint=e", "--cache-dir=/var/cache/x"}).open_mode;
  // Registering backing files needs root; the tests run as root, users may not.
  CHECK(on_disk == (::geteuid() == 0 ? "passthrough" : "noopen"));
  // A supervised mount keeps no file handles across a restart: noopen even with blobs on disk.
  CHECK(parse_ok({"oss://b", "/m", "--endpoint=e", "--cache-dir=/var/cache/x", "--supervise"})
            .open_mode == "noopen");
  // An explicit choice is kept.
  CHECK(
      parse_ok({"oss://b", "/m", "--endpoint=e", "--cache-dir=/c", "--open-mode=read"}).open_mode ==
      "read");
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--open-mode=fast"}).find("auto") !=
        std::string::npos);
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

TEST_CASE("out-of-range numbers are refused, naming the option and the value") {
  auto refused = [](std::string arg, std::string word) {
    std::string e = parse_err({"oss://b", "/m", "--endpoint=e", arg});
    CHECK_MESSAGE(e.find(word) != std::string::npos, arg, " -> ", e);
    std::string value = arg.substr(arg.find('=') + 1);
    CHECK_MESSAGE(e.find("'" + value + "'") != std::string::npos, arg, " -> ", e);
  };
  // Narrowing would have made these 0: uid root, no timeout, metrics port off.
  refused("--uid=4294967296", "uid");
  refused("--uid=4294967295", "uid");  // (uid_t)-1
  refused("--gid=4294967296", "gid");
  refused("--connect-timeout=4294967296", "connect-timeout");
  refused("--request-timeout=99999999999999999999999", "request-timeout");
  refused("--metrics-port=65536", "metrics-port");
  refused("--max-list-ret-count=1001", "max-list-ret-count");
  refused("--upload-concurrency=65", "upload-concurrency");
  // 0 where it means nothing.
  refused("--memory-limit=0", "memory-limit");
  refused("--total_mem_limit=0", "total_mem_limit");
  refused("--connect-timeout=0", "connect-timeout");
  refused("--request-timeout=0", "request-timeout");
  refused("--max-list-ret-count=0", "max-list-ret-count");
  refused("--list-concurrency=0", "list-concurrency");
  refused("--prefetch-concurrency=0", "prefetch-concurrency");
  // Not finite, or past what 64 bits hold (20000000T used to become 2^63).
  for (std::string v : {"inf", "nan", "1e30", "20000000T", "-inf"}) {
    std::string e = parse_err({"oss://b", "/m", "--endpoint=e", "--memory-limit=" + v});
    CHECK_MESSAGE(e.find("memory-limit") != std::string::npos, v, " -> ", e);
  }
  for (std::string v : {"nan", "inf", "-1", "1e300"}) {
    for (std::string o : {"--attr-timeout=", "--refresh=", "--negative-cache-timeout="}) {
      std::string e = parse_err({"oss://b", "/m", "--endpoint=e", o + v});
      CHECK_MESSAGE(e.find(o.substr(2, o.size() - 3)) != std::string::npos, o, v, " -> ", e);
    }
  }
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--resource-limit=2c0g"})
            .find("resource-limit") != std::string::npos);
  CHECK_FALSE(parse_size("inf").ok());
  CHECK_FALSE(parse_size("nan").ok());
  CHECK_FALSE(parse_size("1e30").ok());
  CHECK_FALSE(parse_size("16777216T").ok());
  CHECK(*parse_size("16777215T") == 16777215ull << 40);

  // The edges, and the zeros documented to mean off, never or the default.
  mount_config c = parse_ok({"oss://b", "/m", "--endpoint=e", "--uid=4294967294", "--gid=0",
                             "--metrics-port=65535", "--max-list-ret-count=1",
                             "--upload-concurrency=64", "--memory-limit=1M", "--qps-limit=0",
                             "--cache-size=0", "--negative-cache-timeout=0", "--refresh=0.5",
                             "--index-max-age=0", "--negative-cache-size=0", "--retries=0"});
  CHECK(c.uid == 4294967294u);
  CHECK(c.metrics_port == 65535);
  CHECK(c.max_list_ret_count == 1);
  CHECK(c.upload_concurrency == 64);
  CHECK(c.memory_limit == 1u << 20);
  CHECK(c.refresh_s == 1);  // a fraction rounds up, never down to 0 (never)
  CHECK(parse_ok({"oss://b", "/m", "--endpoint=e", "--metrics-port=0"}).metrics_port == 0);
}

TEST_CASE("every numeric option declares the range of values it accepts") {
  for (const detail::option_def& d : detail::option_table()) {
    if (d.type != detail::kind::str && d.type != detail::kind::flag) {
      CHECK_MESSAGE(d.max > 0, d.names[0]);
      CHECK_MESSAGE(d.min <= d.max, d.names[0]);
    }
  }
}

TEST_CASE("a config file others can change, or owned by another user, is refused") {
  // credential_process runs a command as the mounting user: the file must be this user's.
  std::string f = temp_file("--credential_process=/bin/true\n", 0620);
  CHECK(parse_err({"-c", f, "oss://b", "/m", "--endpoint=e"}).find("writable") !=
        std::string::npos);
  chmod(f.c_str(), 0602);
  CHECK(parse_err({"-c", f, "oss://b", "/m", "--endpoint=e"}).find("writable") !=
        std::string::npos);
  chmod(f.c_str(), 0644);
  CHECK(parse_ok({"-c", f, "oss://b", "/m", "--endpoint=e"}).credential_process == "/bin/true");
  if (geteuid() == 0) {
    REQUIRE(chown(f.c_str(), 65534, 65534) == 0);
    std::string e = parse_err({"-c", f, "oss://b", "/m", "--endpoint=e"});
    CHECK(e.find("owned by uid 65534") != std::string::npos);
    CHECK(e.find(f) != std::string::npos);
  } else {
    MESSAGE("not root: the ownership refusal is not exercised");
  }
  unlink(f.c_str());
  // An STS token is a secret too.
  f = temp_file("--oss_session_token=TOKEN\n", 0644);
  CHECK(parse_err({"-c", f, "oss://b", "/mnt/y", "--endpoint=e"}).find("readable by others") !=
        std::string::npos);
  unlink(f.c_str());
}

TEST_CASE("every option is listed in the help text") {
  std::string h = options_help();
  CHECK(h.find("attr_timeout") != std::string::npos);
  CHECK(h.find("oss_negative_cache_size") != std::string::npos);
  CHECK(h.find("--open-mode") != std::string::npos);
}

TEST_CASE("mount(8)'s implicit rw is no request to write in the mount.fuse3 form") {
  // mount.fuse3 runs `ossuring SOURCE MNT -o rw,...` for every fstab entry without ro.
  mount_config c =
      parse_ok_form({"oss://b", "/m", "-o", "rw,endpoint=e,allow_other"}, mount_form::helper);
  CHECK(c.read_only);
  CHECK(c.mode == "index");
  REQUIRE(c.notes.size() == 1);
  CHECK(c.notes[0].find("the rw that mount(8) adds") != std::string::npos);
  CHECK(c.notes[0].find("writable") != std::string::npos);
  // `writable` asks for writes in every form.
  c = parse_ok_form({"oss://b", "/m", "-o", "rw,writable,endpoint=e"}, mount_form::helper);
  CHECK_FALSE(c.read_only);
  CHECK(c.mode == "lazy");
  CHECK(c.notes.empty());
  // ro from mount(8) stays read-only, without a note.
  c = parse_ok_form({"oss://b", "/m", "-o", "ro,endpoint=e"}, mount_form::helper);
  CHECK(c.read_only);
  CHECK(c.notes.empty());
}

TEST_CASE("-o rw and --rw on the ossuring mount command line still ask for writes") {
  mount_config c = parse_ok({"oss://b", "/m", "--endpoint=e", "-o", "rw"});
  CHECK_FALSE(c.read_only);
  CHECK(c.mode == "lazy");
  c = parse_ok({"oss://b", "/m", "--endpoint=e", "--rw"});
  CHECK_FALSE(c.read_only);
  c = parse_ok({"oss://b", "/m", "--endpoint=e", "--writable"});
  CHECK_FALSE(c.read_only);
  c = parse_ok({"oss://b", "/m", "--endpoint=e"});
  CHECK(c.read_only);
  CHECK(c.notes.empty());
}

TEST_CASE("an ossfs 2.0 config file works unchanged, with one note per difference") {
  std::string f = temp_file(
      "--oss_endpoint=oss-cn-hangzhou.aliyuncs.com\n--oss_bucket=b\n"
      "--upload_buffer_size=16777216\n--upload_concurrency=8\n--log_file_max_size=67108864\n"
      "--log_file_max_count=3\n--close_to_open=false\n--d\n",
      0600);
  mount_config c = parse_ok({"-c", f, "/mnt/y"});
  CHECK(c.part_size == (16ull << 20));
  CHECK(c.upload_concurrency == 8);
  CHECK(c.foreground);
  CHECK(c.log_level == "debug");
  CHECK(c.read_only);
  CHECK(c.log_file_max_size == 67108864);
  CHECK(c.log_file_max_count == 3);
  REQUIRE(c.notes.size() == 2);
  CHECK(c.notes[0].find("'close_to_open' has no effect") != std::string::npos);
  CHECK(c.notes[1].find("unlike ossfs 2.0, ossuring mounts read-only") != std::string::npos);
  unlink(f.c_str());
  // ro=false, as ossfs 2.0 spells read-write, asks for writes: no note.
  f = temp_file("--oss_endpoint=e\n--oss_bucket=b\n--ro=false\n", 0600);
  c = parse_ok({"-c", f, "/mnt/y"});
  CHECK_FALSE(c.read_only);
  CHECK(c.notes.empty());
  unlink(f.c_str());
}

TEST_CASE("nonempty is an option") {
  CHECK(parse_ok({"oss://b", "/m", "--endpoint=e", "-o", "nonempty"}).nonempty);
  CHECK_FALSE(parse_ok({"oss://b", "/m", "--endpoint=e"}).nonempty);
}
