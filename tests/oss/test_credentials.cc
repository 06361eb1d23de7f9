// Unit tests of the credential providers: sources, chain, caching, and secret masking.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>

#include <chrono>
#include <coroutine>

#include "core/gate.hh"
#include "core/io.hh"
#include "core/reactor.hh"
#include "http/oss/credentials.hh"
#include "tests/core/support.hh"
#include "tests/oss/run_sync.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::oss;
using ossuring::test::run_sync;

namespace {

getenv_fn fake_env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

// A temporary file removed at scope exit.
struct temp_file {
  std::string path;
  temp_file(const std::string& content, mode_t mode) {
    char tmpl[] = "/tmp/ossuring-cred-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    ::fchmod(fd, mode);
    ::close(fd);
    path = tmpl;
  }
  ~temp_file() { ::unlink(path.c_str()); }
};

// A provider returning scripted results and counting calls. With `park`, each get() waits
// until release() (a fetch in flight).
class scripted_provider : public credentials_provider {
 public:
  std::vector<result<credentials>> answers;
  size_t calls = 0;
  bool park = false;
  std::vector<std::coroutine_handle<>> parked;
  task<result<credentials>> get() override {
    size_t i = std::min(calls++, answers.size() - 1);
    if (park) {
      co_await parker{*this};
    }
    co_return answers[i];
  }
  std::string describe() const override { return "scripted"; }
  void release() {
    auto h = std::exchange(parked, {});
    for (auto x : h) {
      x.resume();
    }
  }

 private:
  struct parker {
    scripted_provider& p;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { p.parked.push_back(h); }
    void await_resume() const noexcept {}
  };
};

// Runs `t` on a fresh reactor (for providers that wait on io_uring: credential_process).
template <typename T>
T on_reactor(task<T> t) {
  test::require_io_uring();
  reactor r;
  std::optional<T> out;
  r.run([](task<T> t, std::optional<T>& out) -> task<void> { out.emplace(co_await std::move(t)); }(
                                                 std::move(t), out));
  return std::move(*out);
}

const char* ecs_json =
    R"({"AccessKeyId":"STS.id","AccessKeySecret":"sts-secret","Expiration":"2023-12-29T07:45:02Z",)"
    R"("SecurityToken":"tok","LastUpdated":"2023-12-29T01:45:02Z","Code":"Success"})";

}  // namespace

TEST_CASE("describe never prints secrets or tokens") {
  credentials c{"LTAI5tExampleKeyId", "VerySecretValue123", "SecretSessionToken", 1703835902};
  std::string d = describe(c);
  CHECK(d.find("VerySecretValue123") == std::string::npos);
  CHECK(d.find("SecretSessionToken") == std::string::npos);
  CHECK(d.find("LTAI5tExampleKeyId") == std::string::npos);
  CHECK(d.find("LTAI****eyId") != std::string::npos);
  CHECK(d.find("token=<set>") != std::string::npos);
  CHECK(mask_access_key_id("short") == "****");
  auto p = make_static_provider(c);
  CHECK(p->describe().find("VerySecret") == std::string::npos);
}

TEST_CASE("static provider returns its keys and refuses incomplete ones") {
  auto c = run_sync(make_static_provider({"ak", "sk", ""})->get());
  REQUIRE(c);
  CHECK(c->access_key_id == "ak");
  CHECK_FALSE(run_sync(make_static_provider({"ak", "", ""})->get()));
}

TEST_CASE("environment provider prefers OSS_* and falls back to ALIBABA_CLOUD_*") {
  auto both = make_environment_provider(fake_env({{"OSS_ACCESS_KEY_ID", "a1"},
                                                  {"OSS_ACCESS_KEY_SECRET", "s1"},
                                                  {"OSS_SESSION_TOKEN", "t1"},
                                                  {"ALIBABA_CLOUD_ACCESS_KEY_ID", "a2"},
                                                  {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s2"}}));
  auto c = run_sync(both->get());
  REQUIRE(c);
  CHECK(c->access_key_id == "a1");
  CHECK(c->security_token == "t1");
  auto alibaba = make_environment_provider(fake_env({{"ALIBABA_CLOUD_ACCESS_KEY_ID", "a2"},
                                                     {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s2"},
                                                     {"ALIBABA_CLOUD_SECURITY_TOKEN", "t2"}}));
  c = run_sync(alibaba->get());
  REQUIRE(c);
  CHECK(c->access_key_id == "a2");
  CHECK(c->security_token == "t2");
  auto none = run_sync(make_environment_provider(fake_env({{"OSS_ACCESS_KEY_ID", "x"}}))->get());
  CHECK_FALSE(none);
}

TEST_CASE("credentials ini selects the default or a named profile") {
  const char* ini =
      "# comment\n[default]\ntype = access_key\naccess_key_id = d-id\naccess_key_secret = "
      "d-sk\n\n[dev]\r\ntype = sts\r\naccess_key_id = v-id\r\naccess_key_secret = v-sk\r\n"
      "security_token = v-tok\r\n[ecs]\ntype = ecs_ram_role\nrole_name = r\n[off]\nenable = "
      "false\naccess_key_id=a\naccess_key_secret=b\n";
  auto d = parse_credentials_ini(ini, "default");
  REQUIRE(d);
  CHECK(d->access_key_id == "d-id");
  CHECK(d->access_key_secret == "d-sk");
  auto v = parse_credentials_ini(ini, "dev");
  REQUIRE(v);
  CHECK(v->security_token == "v-tok");
  CHECK(parse_credentials_ini(ini, "ecs").err().code == ENOTSUP);
  CHECK(parse_credentials_ini(ini, "missing").err().code == ENOENT);
  CHECK(parse_credentials_ini(ini, "off").err().code == ENOENT);
  CHECK_FALSE(parse_credentials_ini("[default]\naccess_key_id = x\n", "default"));
  // A header with a comment after it still starts its own profile.
  const char* commented =
      "[default]\r\naccess_key_id = d-id\r\naccess_key_secret = d-sk\r\n"
      "[prod] ; production account\r\naccess_key_id = p-id\r\naccess_key_secret = p-sk\r\n";
  auto cd = parse_credentials_ini(commented, "default");
  REQUIRE(cd);
  CHECK(cd->access_key_id == "d-id");
  auto cp = parse_credentials_ini(commented, "prod");
  REQUIRE(cp);
  CHECK(cp->access_key_id == "p-id");
}

TEST_CASE("profile provider reads the file named by the environment") {
  temp_file f("[prod]\naccess_key_id = p-id\naccess_key_secret = p-sk\n", 0600);
  auto p = make_profile_provider(
      {}, {},
      fake_env({{"ALIBABA_CLOUD_CREDENTIALS_FILE", f.path}, {"ALIBABA_CLOUD_PROFILE", "prod"}}));
  auto c = run_sync(p->get());
  REQUIRE(c);
  CHECK(c->access_key_id == "p-id");
  CHECK(p->describe().find("p-sk") == std::string::npos);
  auto missing = make_profile_provider("/nonexistent/credentials", "default");
  CHECK(run_sync(missing->get()).err().code == ENOENT);
  // Anyone who can write the file would choose the keys: refused.
  temp_file w("[default]\naccess_key_id = w-id\naccess_key_secret = w-sk\n", 0666);
  auto writable = run_sync(make_profile_provider(w.path, "default")->get());
  REQUIRE_FALSE(writable);
  CHECK(writable.err().code == EACCES);
}

TEST_CASE("passwd files pick the bucket line over the generic one") {
  const char* text = "# ossfs\ngeneric-ak:generic-sk\nother:o-ak:o-sk\nmybucket:b-ak:b-sk\n";
  auto c = parse_passwd_file(text, "mybucket");
  REQUIRE(c);
  CHECK(c->access_key_id == "b-ak");
  CHECK(c->access_key_secret == "b-sk");
  c = parse_passwd_file(text, "unknown");
  REQUIRE(c);
  CHECK(c->access_key_id == "generic-ak");
  CHECK(parse_passwd_file("other:o-ak:o-sk\n", "mine").err().code == ENOENT);
  auto bad = parse_passwd_file("ok:ok\nsecret-without-colon\n", "b");
  REQUIRE_FALSE(bad);
  CHECK(bad.err().message.find("line 2") != std::string::npos);
  CHECK(bad.err().message.find("secret-without-colon") == std::string::npos);
}

TEST_CASE("passwd files readable by group or others are refused") {
  temp_file open_file("ak:sk\n", 0644);
  auto r = run_sync(make_passwd_file_provider(open_file.path, "b")->get());
  REQUIRE_FALSE(r);
  CHECK(r.err().code == EACCES);
  temp_file private_file("ak:sk\n", 0600);
  auto ok = run_sync(make_passwd_file_provider(private_file.path, "b")->get());
  REQUIRE(ok);
  CHECK(ok->access_key_secret == "sk");
}

TEST_CASE("credentials JSON is parsed with expiration and checked") {
  auto c = parse_credentials_json(ecs_json);
  REQUIRE(c);
  CHECK(c->access_key_id == "STS.id");
  CHECK(c->access_key_secret == "sts-secret");
  CHECK(c->security_token == "tok");
  CHECK(c->expiration == 1703835902);
  CHECK_FALSE(parse_credentials_json("{"));
  CHECK_FALSE(parse_credentials_json("[]"));
  CHECK_FALSE(parse_credentials_json(R"({"AccessKeyId":"a"})"));
  CHECK_FALSE(parse_credentials_json(R"({"AccessKeyId":1,"AccessKeySecret":"s"})"));
  CHECK_FALSE(
      parse_credentials_json(R"({"AccessKeyId":"a","AccessKeySecret":"s","Expiration":"soon"})"));
  auto failed =
      parse_credentials_json(R"({"Code":"Failed","AccessKeyId":"a","AccessKeySecret":"s"})");
  REQUIRE_FALSE(failed);
  CHECK(failed.err().code == EACCES);
  auto plain = parse_credentials_json(R"({"AccessKeyId":"a","AccessKeySecret":"s"})");
  REQUIRE(plain);
  CHECK(plain->expiration == 0);
}

TEST_CASE("credential_process output is parsed; failures are errors without the output") {
  auto ok = on_reactor(make_process_provider(std::string("printf '%s' '") + ecs_json + "'")->get());
  REQUIRE(ok);
  CHECK(ok->security_token == "tok");
  auto fails = on_reactor(make_process_provider("echo leaked-secret; exit 3")->get());
  REQUIRE_FALSE(fails);
  CHECK(fails.err().message.find("leaked-secret") == std::string::npos);
  auto junk = on_reactor(make_process_provider("echo not-json-secret")->get());
  REQUIRE_FALSE(junk);
  CHECK(junk.err().message.find("not-json-secret") == std::string::npos);
  auto slow = on_reactor(make_process_provider("sleep 5", 200)->get());
  REQUIRE_FALSE(slow);
  CHECK(slow.err().code == ETIMEDOUT);
  // Output complete, then the helper lingers with stdout closed: the deadline still holds.
  auto t0 = std::chrono::steady_clock::now();
  auto lingers = on_reactor(
      make_process_provider(std::string("printf '%s' '") + ecs_json + "'; exec >&-; sleep 5", 300)
          ->get());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  REQUIRE_FALSE(lingers);
  CHECK(lingers.err().code == ETIMEDOUT);
  // The daemon blocks SIGTERM; the helper must not inherit that (its own `kill` must work).
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &term, &old);
  auto killed = on_reactor(make_process_provider("kill -TERM $$; sleep 5", 3000)->get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE_FALSE(killed);
  CHECK(killed.err().code == EACCES);  // it died of the signal, long before the timeout
}

TEST_CASE("credential_process runs beside other work on the reactor") {
  test::require_io_uring();
  reactor r;
  int ticks = 0;
  r.run([](int& ticks) -> task<void> {
    auto p = make_process_provider(std::string("sleep 0.3; printf '%s' '") + ecs_json + "'");
    gate g;
    bool done = false;
    g.spawn([](credentials_provider& p, bool& done) -> task<void> {
      auto c = co_await p.get();
      CHECK(c.ok());
      done = true;
    }(*p, done));
    while (!done) {
      co_await sleep_for(std::chrono::milliseconds(20));
      ++ticks;
    }
    co_await g.close();
  }(ticks));
  CHECK(ticks >= 5);  // the reactor went on while the helper ran
}

TEST_CASE("ECS RAM role provider fetches a token, discovers the role and parses credentials") {
  std::vector<http::request> seen;
  http_fetcher fetch = [&](http::request req) -> task<result<http::response>> {
    seen.push_back(req);
    http::response resp;
    resp.status = 200;
    if (req.method == "PUT" && req.target == "/latest/api/token") {
      resp.body = "metadata-token\n";
    } else if (req.target == "/latest/meta-data/ram/security-credentials/") {
      resp.body = "my-role\n";
    } else if (req.target == "/latest/meta-data/ram/security-credentials/my-role") {
      resp.body = ecs_json;
    } else {
      resp.status = 404;
    }
    co_return resp;
  };
  auto c = run_sync(make_ecs_ram_role_provider(fetch)->get());
  REQUIRE(c);
  CHECK(c->access_key_id == "STS.id");
  CHECK(c->expiration == 1703835902);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].headers.get("X-aliyun-ecs-metadata-token-ttl-seconds") == "21600");
  CHECK(seen[1].headers.get("X-aliyun-ecs-metadata-token") == "metadata-token");
  CHECK(seen[2].headers.get("X-aliyun-ecs-metadata-token") == "metadata-token");
  CHECK(seen[2].authority == "100.100.100.200");

  seen.clear();
  auto named = run_sync(make_ecs_ram_role_provider(fetch, "my-role", false)->get());
  REQUIRE(named);
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].headers.has("X-aliyun-ecs-metadata-token"));
  auto wrong = run_sync(make_ecs_ram_role_provider(fetch, "other-role", false)->get());
  REQUIRE_FALSE(wrong);
  CHECK(wrong.err().code == ENOENT);
}

TEST_CASE("ECS provider reports transport failures") {
  http_fetcher down = [](http::request) -> task<result<http::response>> {
    co_return make_error(ECONNREFUSED, "connection refused");
  };
  auto r = run_sync(make_ecs_ram_role_provider(down)->get());
  REQUIRE_FALSE(r);
  CHECK(r.err().code == ECONNREFUSED);
}

TEST_CASE("chain provider returns the first success and names every failure") {
  std::vector<std::unique_ptr<credentials_provider>> v;
  v.push_back(make_environment_provider(fake_env({})));
  v.push_back(make_static_provider({"ak", "sk", ""}));
  auto chain = make_chain_provider(std::move(v));
  auto c = run_sync(chain->get());
  REQUIRE(c);
  CHECK(c->access_key_id == "ak");

  std::vector<std::unique_ptr<credentials_provider>> none;
  none.push_back(make_environment_provider(fake_env({})));
  none.push_back(make_passwd_file_provider("/nonexistent/passwd", "b"));
  auto failed = run_sync(make_chain_provider(std::move(none))->get());
  REQUIRE_FALSE(failed);
  CHECK(failed.err().message.find("environment") != std::string::npos);
  CHECK(failed.err().message.find("/nonexistent/passwd") != std::string::npos);
}

TEST_CASE("caching provider refreshes before expiry and survives a failed refresh") {
  auto inner = std::make_unique<scripted_provider>();
  scripted_provider* s = inner.get();
  s->answers.push_back(credentials{"a1", "s1", "t1", 1000});
  s->answers.push_back(make_error(EIO, "metadata down"));
  s->answers.push_back(credentials{"a2", "s2", "t2", 5000});
  int64_t now = 0;
  auto cache = make_caching_provider(
      std::move(inner), 300, [&] { return now; }, 10);

  CHECK(run_sync(cache->get())->access_key_id == "a1");
  now = 600;  // still more than 300 s before expiry: served from cache
  CHECK(run_sync(cache->get())->access_key_id == "a1");
  CHECK(s->calls == 1);
  now = 800;  // inside the margin: served at once; the refresh behind it fails
  CHECK(run_sync(cache->get())->access_key_id == "a1");
  CHECK(s->calls == 2);
  now = 805;  // within the retry interval: no new attempt
  CHECK(run_sync(cache->get())->access_key_id == "a1");
  CHECK(s->calls == 2);
  now = 811;  // the next attempt succeeds (at once here: this fake never waits)
  CHECK(run_sync(cache->get())->access_key_id == "a2");
  CHECK(s->calls == 3);
  CHECK(run_sync(cache->get())->access_key_id == "a2");
  CHECK(s->calls == 3);
  run_sync(cache->close());
}

TEST_CASE("caching provider does not serve expired credentials, nor fetch per request") {
  auto inner = std::make_unique<scripted_provider>();
  scripted_provider* s = inner.get();
  inner->answers.push_back(credentials{"a1", "s1", "t1", 1000});
  inner->answers.push_back(make_error(EIO, "metadata down"));
  int64_t now = 0;
  auto cache = make_caching_provider(
      std::move(inner), 300, [&] { return now; }, 10);
  CHECK(run_sync(cache->get()));
  now = 1000;
  auto r = run_sync(cache->get());
  REQUIRE_FALSE(r);
  CHECK(r.err().message == "metadata down");
  CHECK(s->calls == 2);
  for (int i = 0; i < 5; ++i) {
    CHECK(run_sync(cache->get()).err().message == "metadata down");
  }
  CHECK(s->calls == 2);  // the failure is remembered until the retry interval passes
  now = 1011;
  CHECK_FALSE(run_sync(cache->get()));
  CHECK(s->calls == 3);
}

TEST_CASE("caching provider: one fetch for concurrent callers; a refresh never holds them") {
  auto inner = std::make_unique<scripted_provider>();
  scripted_provider* s = inner.get();
  s->answers.push_back(credentials{"a1", "s1", "t1", 1000});
  s->answers.push_back(credentials{"a2", "s2", "t2", 5000});
  int64_t now = 0;
  auto cache = make_caching_provider(
      std::move(inner), 300, [&] { return now; }, 10);
  // No credentials yet: eight callers, one fetch, all answered by it.
  s->park = true;
  std::vector<test::started<result<credentials>>> gets;
  for (int i = 0; i < 8; ++i) {
    gets.push_back(test::start(cache->get()));
  }
  CHECK(s->calls == 1);
  s->release();
  for (auto& g : gets) {
    REQUIRE(g.done());
    CHECK(g.get()->access_key_id == "a1");
  }
  // Inside the margin: the refresh runs in the background while every caller is served.
  now = 800;
  CHECK(run_sync(cache->get())->access_key_id == "a1");
  CHECK(run_sync(cache->get())->access_key_id == "a1");
  CHECK(s->calls == 2);
  s->release();
  CHECK(run_sync(cache->get())->access_key_id == "a2");
  run_sync(cache->close());
}

TEST_CASE("caching provider keeps non-expiring credentials") {
  auto inner = std::make_unique<scripted_provider>();
  scripted_provider* s = inner.get();
  inner->answers.push_back(credentials{"a1", "s1", "", 0});
  int64_t now = 0;
  auto cache = make_caching_provider(std::move(inner), 300, [&] { return now; });
  CHECK(run_sync(cache->get()));
  now = 1'000'000'000;
  CHECK(run_sync(cache->get()));
  CHECK(s->calls == 1);
  run_sync(cache->close());
}
