// Credential providers that read files, run a command or ask the ECS metadata service.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/file.hh"
#include "core/io.hh"
#include "core/net.hh"
#include "http/oss/credentials.hh"

extern char** environ;

namespace ossuring::oss {

namespace {

std::string_view trim(std::string_view v) {
  while (!v.empty() &&
         (v.front() == ' ' || v.front() == '\t' || v.front() == '\r' || v.front() == '\n')) {
    v.remove_prefix(1);
  }
  while (!v.empty() &&
         (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n')) {
    v.remove_suffix(1);
  }
  return v;
}

// Calls `fn(line, line_number)` for each line of `text`.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    fn(trim(line), ++number);
  }
}

// Reads a credentials file whole. Refuses one that group or others may write (whoever can
// chooses the keys, and the account, the mount uses) and, with `private_only`, one they may
// access at all.
result<std::string> read_credentials_file(const std::string& path, bool private_only) {
  return read_small_file(path, path, [&](const struct stat& st) -> status {
    if (private_only && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return make_error(EACCES, path + " is accessible by group or others; run chmod 600 on it");
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      return make_error(EACCES, path + " is writable by group or others; run chmod go-w on it");
    }
    return {};
  });
}

std::string env_or(const getenv_fn& env, const char* name, std::string fallback) {
  const char* v = env(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::move(fallback);
}

class profile_provider final : public credentials_provider {
 public:
  profile_provider(std::string path, std::string profile)
      : _path(std::move(path)), _profile(std::move(profile)) {}
  task<result<credentials>> get() override {
    auto text = read_credentials_file(_path, false);
    if (!text) {
      co_return std::move(text).err();
    }
    auto c = parse_credentials_ini(*text, _profile);
    if (!c) {
      error e = std::move(c).err();
      e.message = _path + ": " + e.message;
      co_return e;
    }
    co_return c;
  }
  std::string describe() const override { return "profile " + _profile + " in " + _path; }

 private:
  std::string _path;
  std::string _profile;
};

class passwd_provider final : public credentials_provider {
 public:
  passwd_provider(std::string path, std::string bucket)
      : _path(std::move(path)), _bucket(std::move(bucket)) {}
  task<result<credentials>> get() override {
    auto text = read_credentials_file(_path, true);
    if (!text) {
      co_return std::move(text).err();
    }
    auto c = parse_passwd_file(*text, _bucket);
    if (!c) {
      error e = std::move(c).err();
      e.message = _path + ": " + e.message;
      co_return e;
    }
    co_return c;
  }
  std::string describe() const override { return "passwd file " + _path; }

 private:
  std::string _path;
  std::string _bucket;
};

// Runs `command` (stdin /dev/null, its own process group, default signal handling) and collects
// its stdout, at most 1 MiB. The whole run, the exit included, is bounded by `timeout`: a helper
// that closes stdout and lingers is killed like one that never answers. Waiting happens on the
// reactor (the pipe read and the process's pidfd through io_uring), so a slow helper holds up
// no other request.
task<result<std::string>> run_command(const std::string& command,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    co_return make_error(errno, "pipe failed");
  }
  unique_fd out_fd(fds[0]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  // Its own process group, so a timeout kills the shell and whatever it started. The daemon
  // blocks and ignores signals the helper must not inherit (SIGPIPE ignored would hide a
  // closed pipe from it; blocked SIGTERM would make it unkillable by its own tools).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    co_return make_error(rc, "cannot run credential_process: " + std::string(std::strerror(rc)));
  }
  // Before the process can be reaped, so the pid cannot name another process yet.
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(deadline -
                                                                std::chrono::steady_clock::now());
  };
  std::string out;
  bool timed_out = false;
  bool too_big = false;
  char buf[4096];
  for (;;) {
    if (left().count() <= 0) {
      timed_out = true;
      break;
    }
    int n = co_await read(out_fd.get(), buf, sizeof buf, static_cast<uint64_t>(-1),
                          {.timeout = left()});
    if (n == -EINTR || n == -EAGAIN) {
      continue;
    }
    if (n == -ETIMEDOUT) {
      timed_out = true;
      break;
    }
    if (n <= 0) {
      break;  // end of output (or a read error: the exit status tells the rest)
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) {
      too_big = true;
      break;
    }
  }
  if (!timed_out && !too_big && pidfd.get() >= 0) {
    // Output ended: the helper still has until the deadline to exit.
    int r = -ETIMEDOUT;
    if (left().count() > 0) {
      r = co_await poll(pidfd.get(), POLLIN, {.timeout = left()});
    }
    timed_out = r == -ETIMEDOUT;
  }
  if (timed_out || too_big) {
    ::kill(-pid, SIGKILL);
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    co_return make_error(ETIMEDOUT, "credential_process timed out");
  }
  if (too_big) {
    co_return make_error(EFBIG, "credential_process printed more than 1 MiB");
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    co_return make_error(EACCES,
                         "credential_process failed (status " + std::to_string(wstatus) + ")");
  }
  co_return out;
}

class process_provider final : public credentials_provider {
 public:
  process_provider(std::string command, int timeout_ms)
      : _command(std::move(command)), _timeout_ms(timeout_ms) {}
  task<result<credentials>> get() override {
    auto out = co_await run_command(_command, std::chrono::milliseconds(_timeout_ms));
    if (!out) {
      co_return std::move(out).err();
    }
    // The output holds secrets: errors say what is wrong with it, never what it was.
    co_return parse_credentials_json(*out);
  }
  std::string describe() const override { return "credential_process"; }

 private:
  std::string _command;
  int _timeout_ms;
};

class ecs_provider final : public credentials_provider {
 public:
  ecs_provider(http_fetcher fetch, std::string role, bool hardened)
      : _fetch(std::move(fetch)), _role(std::move(role)), _hardened(hardened) {}

  task<result<credentials>> get() override {
    std::string token;
    if (_hardened) {
      http::request req = make_request("PUT", "/latest/api/token", {});
      req.headers.add("X-aliyun-ecs-metadata-token-ttl-seconds", "21600");
      auto body = co_await fetch_body(std::move(req), "metadata token");
      if (!body) {
        co_return std::move(body).err();
      }
      token = std::string(trim(*body));
    }
    std::string role = _role;
    if (role.empty()) {
      auto body = co_await fetch_body(make_request("GET", prefix, token), "RAM role name");
      if (!body) {
        co_return std::move(body).err();
      }
      std::string_view first = trim(*body);
      first = trim(first.substr(0, first.find('\n')));
      if (first.empty()) {
        co_return make_error(ENOENT, "no RAM role is attached to this ECS instance");
      }
      role = std::string(first);
    }
    auto body = co_await fetch_body(make_request("GET", std::string(prefix) + role, token),
                                    "RAM role credentials");
    if (!body) {
      co_return std::move(body).err();
    }
    co_return parse_credentials_json(*body);
  }

  std::string describe() const override {
    return "ECS RAM role " + (_role.empty() ? std::string("(discovered)") : _role);
  }

 private:
  static constexpr std::string_view prefix = "/latest/meta-data/ram/security-credentials/";

  static http::request make_request(std::string method, std::string_view target,
                                    const std::string& token) {
    http::request req;
    req.method = std::move(method);
    req.target = std::string(target);
    req.authority = std::string(ecs_metadata_host);
    if (!token.empty()) {
      req.headers.add("X-aliyun-ecs-metadata-token", token);
    }
    return req;
  }

  task<result<std::string>> fetch_body(http::request req, const char* what) {
    result<http::response> resp = co_await _fetch(std::move(req));
    if (!resp) {
      error e = std::move(resp).err();
      e.message = std::string("ECS metadata ") + what + ": " + e.message;
      co_return e;
    }
    if (resp->status == 404) {
      co_return make_error(ENOENT, std::string("ECS metadata ") + what + ": not found (404)");
    }
    if (resp->status != 200) {
      error e = make_error(
          EACCES, std::string("ECS metadata ") + what + ": HTTP " + std::to_string(resp->status));
      e.http_status = resp->status;
      co_return e;
    }
    co_return std::move(resp->body);
  }

  http_fetcher _fetch;
  std::string _role;
  bool _hardened;
};

}  // namespace

result<credentials> parse_credentials_ini(std::string_view text, std::string_view profile) {
  bool found = false;
  bool in_profile = false;
  std::string type = "access_key";
  std::string enable;
  credentials c;
  for_each_line(text, [&](std::string_view line, size_t) {
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      return;
    }
    if (line.front() == '[') {
      // "[name]", possibly followed by a comment; a header without "]" starts no profile, so
      // that the keys under it are never taken for the previous one's.
      size_t close = line.find(']');
      in_profile = close != std::string_view::npos && trim(line.substr(1, close - 1)) == profile;
      found = found || in_profile;
      return;
    }
    size_t eq = line.find('=');
    if (!in_profile || eq == std::string_view::npos) {
      return;
    }
    std::string_view key = trim(line.substr(0, eq));
    std::string value(trim(line.substr(eq + 1)));
    if (key == "type") {
      type = value;
    } else if (key == "enable") {
      enable = value;
    } else if (key == "access_key_id") {
      c.access_key_id = value;
    } else if (key == "access_key_secret") {
      c.access_key_secret = value;
    } else if (key == "security_token" || key == "sts_token") {
      c.security_token = value;
    }
  });
  std::string name(profile);
  if (!found) {
    return make_error(ENOENT, "no profile [" + name + "]");
  }
  if (enable == "false") {
    return make_error(ENOENT, "profile [" + name + "] is disabled");
  }
  if (type != "access_key" && type != "sts") {
    return make_error(ENOTSUP, "profile [" + name + "] has unsupported type " + type);
  }
  if (c.access_key_id.empty() || c.access_key_secret.empty()) {
    return make_error(EINVAL, "profile [" + name + "] lacks access_key_id or access_key_secret");
  }
  if (type == "sts" && c.security_token.empty()) {
    return make_error(EINVAL, "profile [" + name + "] of type sts lacks security_token");
  }
  return c;
}

result<credentials> parse_passwd_file(std::string_view text, std::string_view bucket) {
  std::optional<credentials> generic;
  std::optional<credentials> specific;
  std::optional<size_t> bad_line;
  for_each_line(text, [&](std::string_view line, size_t number) {
    if (line.empty() || line.front() == '#' || bad_line) {
      return;
    }
    std::vector<std::string_view> f;
    size_t pos = 0;
    for (;;) {
      size_t colon = line.find(':', pos);
      f.push_back(line.substr(pos, colon - pos));
      if (colon == std::string_view::npos) {
        break;
      }
      pos = colon + 1;
    }
    bool empty_field = false;
    for (std::string_view x : f) {
      empty_field = empty_field || x.empty();
    }
    if ((f.size() != 2 && f.size() != 3) || empty_field) {
      bad_line = number;  // the line's content is secret: report only its number
      return;
    }
    if (f.size() == 2 && !generic) {
      generic = credentials{std::string(f[0]), std::string(f[1]), ""};
    } else if (f.size() == 3 && f[0] == bucket && !specific) {
      specific = credentials{std::string(f[1]), std::string(f[2]), ""};
    }
  });
  if (bad_line) {
    return make_error(EINVAL,
                      "line " + std::to_string(*bad_line) + " is neither ak:sk nor bucket:ak:sk");
  }
  if (specific) {
    return *specific;
  }
  if (generic) {
    return *generic;
  }
  return make_error(ENOENT, "no credentials for bucket " + std::string(bucket));
}

std::unique_ptr<credentials_provider> make_profile_provider(std::string path, std::string profile,
                                                            getenv_fn env) {
  if (!env) {
    env = [](const char* name) -> const char* { return std::getenv(name); };
  }
  if (path.empty()) {
    path = env_or(env, "ALIBABA_CLOUD_CREDENTIALS_FILE",
                  env_or(env, "HOME", "") + "/.alibabacloud/credentials");
  }
  if (profile.empty()) {
    profile = env_or(env, "ALIBABA_CLOUD_PROFILE", "default");
  }
  return std::make_unique<profile_provider>(std::move(path), std::move(profile));
}

std::unique_ptr<credentials_provider> make_passwd_file_provider(std::string path,
                                                                std::string bucket) {
  return std::make_unique<passwd_provider>(std::move(path), std::move(bucket));
}

std::unique_ptr<credentials_provider> make_process_provider(std::string command, int timeout_ms) {
  return std::make_unique<process_provider>(std::move(command), timeout_ms);
}

std::unique_ptr<credentials_provider> make_ecs_ram_role_provider(http_fetcher fetch,
                                                                 std::string role, bool hardened) {
  return std::make_unique<ecs_provider>(std::move(fetch), std::move(role), hardened);
}

}  // namespace ossuring::oss
