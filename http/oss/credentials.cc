// Credential helpers and the static, environment, chain and caching providers.
#include "http/oss/credentials.hh"

#include <simdjson.h>
#include <cstdlib>
#include <ctime>

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

// Not safe for concurrent get() from several threads; on one reactor thread two overlapping
// refreshes merely fetch twice.
class caching_provider final : public credentials_provider {
 public:
  caching_provider(std::unique_ptr<credentials_provider> inner, int64_t margin, clock_fn now)
      : _inner(std::move(inner)), _margin(margin), _now(std::move(now)) {}
  task<result<credentials>> get() override {
    int64_t now = _now();
    if (_cached && (_cached->expiration == 0 || now < _cached->expiration - _margin)) {
      co_return *_cached;
    }
    result<credentials> fresh = co_await _inner->get();
    if (fresh) {
      _cached = *fresh;
      co_return fresh;
    }
    if (_cached && now < _cached->expiration) {
      co_return *_cached;  // refresh failed early: the old ones are still valid
    }
    co_return fresh;
  }
  std::string describe() const override { return "cached " + _inner->describe(); }

 private:
  std::unique_ptr<credentials_provider> _inner;
  int64_t _margin;
  clock_fn _now;
  std::optional<credentials> _cached;
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
    std::unique_ptr<credentials_provider> inner, int64_t refresh_margin, clock_fn now) {
  if (!now) {
    now = [] { return static_cast<int64_t>(std::time(nullptr)); };
  }
  return std::make_unique<caching_provider>(std::move(inner), refresh_margin, std::move(now));
}

}  // namespace ossuring::oss
