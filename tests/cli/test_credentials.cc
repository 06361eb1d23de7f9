// Secrets on the command line are hidden from /proc/PID/cmdline; explicitly requested credential
// sources that cannot work are refused at start-up instead of being skipped.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/cli/config_helpers.hh"
#include "tools/cli/config.hh"

using namespace ossuring::cli;
using test::parse_err;
using test::temp_file;

namespace {

// A writable argv as the kernel lays it out: each argument NUL-terminated in one buffer.
struct fake_argv {
  std::string buf;
  std::vector<char*> ptrs;
  explicit fake_argv(const std::vector<std::string>& args) {
    for (const std::string& a : args) {
      buf += a;
      buf += '\0';
    }
    for (size_t pos = 0; pos < buf.size(); pos = buf.find('\0', pos) + 1) {
      ptrs.push_back(buf.data() + pos);
    }
    ptrs.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(ptrs.size() - 1); }
};

}  // namespace

TEST_CASE("secret values are overwritten in argv, and nothing else is") {
  fake_argv a({"ossuring",
               "mount",
               "oss://b",
               "/m",
               "--access-key-secret=SK1",
               "--sts-token",
               "TOK2",
               "-o",
               "allow_other,access-key-secret=SK3,endpoint=e",
               "--prefix",
               "--access-key-secret=not-an-option",
               "-o",
               "oss_session_token=TOK4",
               "--oss_access_key_secret",
               "SK5",
               "--access-key-id=AK",
               "-c",
               "--sts-token=file",
               "--security_token=",
               "-o",
               "security_token=TOK6,ro"});
  CHECK(hide_secret_arguments(a.argc(), a.ptrs.data()) == 6);
  fake_argv want({"ossuring",
                  "mount",
                  "oss://b",
                  "/m",
                  "--access-key-secret=xxx",
                  "--sts-token",
                  "xxxx",
                  "-o",
                  "allow_other,access-key-secret=xxx,endpoint=e",
                  "--prefix",
                  "--access-key-secret=not-an-option",
                  "-o",
                  "oss_session_token=xxxx",
                  "--oss_access_key_secret",
                  "xxx",
                  "--access-key-id=AK",
                  "-c",
                  "--sts-token=file",
                  "--security_token=",
                  "-o",
                  "security_token=xxxx,ro"});
  CHECK(a.buf == want.buf);
  fake_argv none({"ossuring", "ls", "oss://b", "--endpoint", "e"});
  CHECK(hide_secret_arguments(none.argc(), none.ptrs.data()) == 0);
}

TEST_CASE("half an access key or a lone STS token is refused") {
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--access-key-id=AK"})
            .find("--access-key-secret") != std::string::npos);
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "-o", "oss_access_key_secret=SK"})
            .find("--access-key-id") != std::string::npos);
  std::string e = parse_err({"oss://b", "/m", "--endpoint=e", "--sts-token=TOKEN"});
  CHECK(e.find("--sts-token") != std::string::npos);
  CHECK(e.find("TOKEN") == std::string::npos);
  CHECK(parse_mount_args({"oss://b", "/m", "--endpoint=e", "--access-key-id=AK",
                          "--access-key-secret=SK", "--sts-token=T"})
            .ok());
  CHECK(parse_mount_args(
            {"oss://b", "/m", "--endpoint=e", "--access-key-id=", "--access-key-secret="})
            .ok());
}

TEST_CASE("an explicit --passwd-file that cannot be used is refused at start-up") {
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--passwd-file=/nonexistent/passwd"})
            .find("/nonexistent/passwd") != std::string::npos);
  std::string f = temp_file("b:AK:SECRET\n", 0640);
  std::string e = parse_err({"oss://b", "/m", "--endpoint=e", "--passwd-file", f});
  CHECK(e.find("--passwd-file " + f) != std::string::npos);
  CHECK(e.find("chmod 600") != std::string::npos);
  chmod(f.c_str(), 0600);
  CHECK(parse_mount_args({"oss://b", "/m", "--endpoint=e", "--passwd-file", f}).ok());
  // No line for this bucket and no generic line.
  CHECK(parse_err({"oss://other", "/m", "--endpoint=e", "--passwd-file", f}).find(f) !=
        std::string::npos);
  unlink(f.c_str());
  f = temp_file("just-one-field-SECRET\n", 0600);
  e = parse_err({"oss://b", "/m", "--endpoint=e", "-o", "passwd_file=" + f});
  CHECK(e.find("line 1") != std::string::npos);
  CHECK(e.find("SECRET") == std::string::npos);
  unlink(f.c_str());
  CHECK(parse_err({"oss://b", "/m", "--endpoint=e", "--passwd-file=/tmp"}).find("regular") !=
        std::string::npos);
}
