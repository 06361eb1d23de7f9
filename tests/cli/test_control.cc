// The control socket: line protocol round trip, owner-only answers, missing daemon errors.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "core/io.hh"
#include "tools/cli/control.hh"

using namespace ossuring;
using namespace ossuring::cli;

namespace {
std::string temp_run_dir() {
  char tmpl[] = "/tmp/ossuring-ctl-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return std::string(tmpl) + "/run";
}

// Runs a control server answering "echo ARGS" with two lines, while `client` runs on a thread.
std::vector<std::string> serve_and_ask(const std::string& path,
                                       const std::function<void()>& client) {
  reactor r;
  std::vector<std::string> commands;
  auto server = control_server::listen(path);
  REQUIRE_MESSAGE(server.ok(), (server.ok() ? "" : server.err().message));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);
  std::thread t;
  r.run([&]() -> task<void> {
    t = std::thread([&] {
      client();
      reactor* self = &r;
      self->post([&] { r.spawn(server->stop()); });
    });
    co_await server->serve(
        [&](std::string cmd, std::string args, control_connection& out) -> task<void> {
          commands.push_back(cmd + "|" + args);
          co_await out.send_line("first " + args);
          co_await out.send_line("second");
        });
  }());
  t.join();
  return commands;
}
}  // namespace

TEST_CASE("a control request gets every answer line and the server sees the command") {
  std::string path = temp_run_dir() + "/x.sock";
  std::vector<std::string> lines;
  auto commands = serve_and_ask(path, [&] {
    status s =
        control_request(path, "echo {\"a\":1}", [&](const std::string& l) { lines.push_back(l); });
    CHECK(s.ok());
  });
  REQUIRE(commands.size() == 1);
  CHECK(commands[0] == "echo|{\"a\":1}");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "first {\"a\":1}");
  CHECK(lines[1] == "second");
}

TEST_CASE("another user gets no answer from the control socket") {
  if (::geteuid() != 0) {
    return;  // needs root to become another user
  }
  std::string path = temp_run_dir() + "/y.sock";
  int answered = -1;
  auto commands = serve_and_ask(path, [&] {
    std::string run = path.substr(0, path.rfind('/'));
    ::chmod(run.substr(0, run.rfind('/')).c_str(), 0755);
    ::chmod(run.c_str(), 0755);
    ::chmod(path.c_str(), 0666);  // let the other user connect at all: SO_PEERCRED must refuse
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setuid(65534) != 0) {
        _exit(3);
      }
      int n = 0;
      status s = control_request(path, "stats", [&](const std::string&) { ++n; });
      _exit(!s.ok() && s.err().code == EACCES && n == 0 ? 0 : 1);
    }
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    answered = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 2;
  });
  CHECK(answered == 0);
  CHECK(commands.empty());
}

TEST_CASE("asking a mount with no daemon says so") {
  std::string lines;
  status s = control_request("/tmp/ossuring-no-such-dir/none.sock", "stats",
                             [&](const std::string& l) { lines += l; });
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().message.find("cannot reach the daemon") != std::string::npos);
}
