// Credential helpers and the static, environment, chain and caching providers.
#include "http/oss/credentials.hh"

#include <simdjson.h>

#include <algorithm>
#include <coroutine>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include "core/gate.hh"
#include "core/log.hh"
#include "core/reactor.hh"
#include "http/oss/time.hh"

namespace ossuring::oss {

std::string mask_access_key_id(std::string_view id) {
  if (id.size() <= 8) {
    return "****";
  }
  return std::string(id.substr(0, 4)) + "****" + std::string(id.substr(id.size() - 4));
}

std::string describe(const credentials& c) {
  std::string s = "access_key_id=" + mask_access_key_id(c.access_key_id);
  s += c.access_key_secret.empty() ? " secret=<unset>" : " secret=<set>";
  s += c.security_token.empty() ? " token=<none>" : " token=<set>";
  if (c.expiration != 0) {
    s += " expires=" + format_iso8601(c.expiration);
  }
  return s;
}

result<credentials> parse_credentials_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(json.data(), json.size()).get(doc); err) {
    return make_error(EINVAL, std::string("credentials JSON: ") + simdjson::error_message(err));
  }
  if (!doc.is_object()) {
    return make_error(EINVAL, "credentials JSON is not an object");
  }
  auto field = [&](const char* name, bool required) -> result<std::string> {
    simdjson::dom::element e;
    if (doc[name].get(e) != simdjson::SUCCESS) {
      if (required) {
        return make_error(EINVAL, std::string("credentials JSON lacks ") + name);
      }
      return std::string();
    }
    std::string_view v;
    if (e.get(v) != simdjson::SUCCESS) {
      return make_error(EINVAL, std::string("credentials JSON: ") + name + " is not a string");
    }
    return std::string(v);
  };
  auto code = field("Code", false);
  if (!code) {
    return std::move(code).err();
  }
  if (!code->empty() && *code != "Success") {
    return make_error(EACCES, "credentials source answered Code=" + code->substr(0, 64));
  }
  credentials c;
  auto id = field("AccessKeyId", true);
  auto secret = field("AccessKeySecret", true);
  auto token = field("SecurityToken", false);
  auto expiration = field("Expiration", false);
  for (auto* r : {&id, &secret, &token, &expiration}) {
    if (!*r) {
      return std::move(*r).err();
    }
  }
  if (id->empty() || secret->empty()) {
    return make_error(EINVAL, "credentials JSON has an empty AccessKeyId or AccessKeySecret");
  }
  c.access_key_id = std::move(*id);
  c.access_key_secret = std::move(*secret);
  c.security_token = std::move(*token);
  if (!expiration->empty()) {
    auto t = parse_iso8601(*expiration);
    if (!t) {
      return make_error(EINVAL, "credentials JSON: invalid Expiration");
    }
    c.expiration = t->sec;
  }
  return c;
}

namespace {

class static_provider final : public credentials_provider {
 public:
  explicit static_provider(credentials c) : _creds(std::move(c)) {}
  task<result<credentials>> get() override {
    if (_creds.access_key_id.empty() || _creds.access_key_secret.empty()) {
      co_return make_error(EACCES, "static credentials are incomplete");
    }
    co_return _creds;
  }
  std::string describe() const override {
    return "static (" + mask_access_key_id(_creds.access_key_id) + ")";
  }

 private:
  credentials _creds;
};

class environment_provider final : public credentials_provider {
 public:
  explicit environment_provider(getenv_fn env) : _env(std::move(env)) {}
  task<result<credentials>> get() override {
    for (const auto& names : _sets) {
      const char* id = _env(names[0]);
      const char* secret = _env(names[1]);
      if (id != nullptr && *id != '\0' && secret != nullptr && *secret != '\0') {
        const char* token = _env(names[2]);
        co_return credentials{id, secret, token != nullptr ? token : ""};
      }
    }
    co_return make_error(ENOENT,
                         "neither OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET nor "
                         "ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET are set");
  }
  std::string describe() const override { return "environment"; }

 private:
  static constexpr const char* _sets[2][3] = {
      {"OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"},
      {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
       "ALIBABA_CLOUD_SECURITY_TOKEN"}};
  getenv_fn _env;
};

class chain_provider final : public credentials_provider {
 public:
  explicit chain_provider(std::vector<std::unique_ptr<credentials_provider>> p)
      : _providers(std::move(p)) {}
  task<result<credentials>> get() override {
    std::string failures;
    for (auto& p : _providers) {
      result<credentials> r = co_await p->get();
      if (r) {
        co_return r;
      }
      failures += (failures.empty() ? "" : "; ") + p->describe() + ": " + r.err().message;
    }
    co_return make_error(EACCES, "no credentials found (" + failures + ")");
  }
  std::string describe() const override {
    std::string s = "chain[";
    for (size_t i = 0; i < _providers.size(); ++i) {
      s += (i ? ", " : "") + _providers[i]->describe();
    }
    return s + "]";
  }

 private:
  std::vector<std::unique_ptr<credentials_provider>> _providers;
};

// One reactor thread (not safe for get() from several threads). Invariant: at most one fetch
// from `_inner` runs; callers that need its result wait in `_waiters`.
class caching_provider final : public credentials_provider {
 public:
  caching_provider(std::unique_ptr<credentials_provider> inner, int64_t margin, clock_fn now,
                   int64_t retry)
      : _inner(std::move(inner)), _margin(margin), _retry(retry), _now(std::move(now)) {}

  task<result<credentials>> get() override {
    int64_t now = _now();
    if (valid_at(now + _margin)) {
      co_return *_cached;
    }
    if (valid_at(now)) {
      if (!_fetching && now >= _retry_at && !_background.closed()) {
        _background.spawn(fetch());
      }
      co_return *_cached;
    }
    if (_fetching) {
      co_await waiter{*this};
    } else if (now >= _retry_at || !_last_error) {
      co_await fetch();
    }
    if (valid_at(_now())) {
      co_return *_cached;
    }
    co_return _last_error ? *_last_error : make_error(EACCES, "no credentials");
  }
  std::string describe() const override { return "cached " + _inner->describe(); }
  task<void> close() override {
    co_await _background.close();
    co_await _inner->close();
  }

 private:
  struct waiter {
    caching_provider& p;
    bool await_ready() const noexcept { return !p._fetching; }
    void await_suspend(std::coroutine_handle<> h) { p._waiters.push_back(h); }
    void await_resume() const noexcept {}
  };

  bool valid_at(int64_t t) const {
    return _cached && (_cached->expiration == 0 || t < _cached->expiration);
  }

  task<void> fetch() {
    _fetching = true;
    result<credentials> fresh = co_await _inner->get();
    _fetching = false;
    if (fresh) {
      _cached = std::move(*fresh);
      _last_error.reset();
      _retry_at = 0;
    } else {
      _retry_at = _now() + _retry;
      log_warn(
          "credentials_refresh_failed",
          {{"source", _inner->describe()},
           {"error", fresh.err().message},
           {"cached_valid_s",
            _cached ? std::to_string(std::max<int64_t>(0, _cached->expiration - _now())) : "0"}});
      _last_error = std::move(fresh).err();
    }
    // Every field the waiters read is final: wake them (later, on the reactor, when there is one).
    std::vector<std::coroutine_handle<>> w = std::exchange(_waiters, {});
    for (std::coroutine_handle<> h : w) {
      if (reactor* r = reactor::current()) {
        r->schedule(h);
      } else {
        h.resume();
      }
    }
  }

  std::unique_ptr<credentials_provider> _inner;
  int64_t _margin;
  int64_t _retry;
  clock_fn _now;
  std::optional<credentials> _cached;
  std::optional<error> _last_error;
  int64_t _retry_at = 0;
  bool _fetching = false;
  std::vector<std::coroutine_handle<>> _waiters;
  gate _background;  // a refresh started inside the margin (close() waits for it)
};

}  // namespace

std::unique_ptr<credentials_provider> make_static_provider(credentials c) {
  return std::make_unique<static_provider>(std::move(c));
}

std::unique_ptr<credentials_provider> make_environment_provider(getenv_fn env) {
  if (!env) {
    env = [](const char* name) -> const char* { return std::getenv(name); };
  }
  return std::make_unique<environment_provider>(std::move(env));
}

std::unique_ptr<credentials_provider> make_chain_provider(
    std::vector<std::unique_ptr<credentials_provider>> providers) {
  return std::make_unique<chain_provider>(std::move(providers));
}

std::unique_ptr<credentials_provider> make_caching_provider(
    std::unique_ptr<credentials_provider> inner, int64_t refresh_margin, clock_fn now,
    int64_t refresh_retry) {
  if (!now) {
    now = [] { return static_cast<int64_t>(std::time(nullptr)); };
  }
  return std::make_unique<caching_provider>(std::move(inner), refresh_margin, std::move(now),
                                            refresh_retry);
}

}  // namespace ossuring::oss
