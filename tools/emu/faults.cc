// Fault decisions, token buckets and fault configuration parsing.
#include "tools/emu/faults.hh"

#include <fnmatch.h>

#include <simdjson.h>
#include <charconv>

#include "tools/emu/content.hh"
#include "tools/emu/store.hh"

namespace ossuring::emu {

token_bucket::token_bucket(double rate, double burst)
    : _rate(rate), _burst(burst), _tokens(burst) {}

void token_bucket::refill(clock_type::time_point now) {
  if (_last == clock_type::time_point{}) {
    _last = now;
  }
  if (now > _last) {
    double dt = std::chrono::duration<double>(now - _last).count();
    _tokens = std::min(_burst, _tokens + dt * _rate);
    _last = now;
  }
}

std::chrono::nanoseconds token_bucket::take(double n, clock_type::time_point now) {
  std::lock_guard lock(_mu);
  refill(now);
  _tokens -= n;
  if (_tokens >= 0) {
    return std::chrono::nanoseconds(0);
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(-_tokens / _rate * 1e9));
}

bool token_bucket::try_take(clock_type::time_point now, std::chrono::nanoseconds& wait) {
  std::lock_guard lock(_mu);
  refill(now);
  if (_tokens >= 1) {
    _tokens -= 1;
    wait = std::chrono::nanoseconds(0);
    return true;
  }
  wait = std::chrono::nanoseconds(static_cast<int64_t>((1 - _tokens) / _rate * 1e9));
  return false;
}

faults::faults(fault_config cfg) : _rng_state(0) {
  configure(std::move(cfg));
}

void faults::configure(fault_config cfg) {
  std::lock_guard lock(_mu);
  _rng_state = cfg.seed;
  // The QPS bucket holds one second of requests, as a per-second quota behaves.
  _qps = cfg.qps_limit > 0 ? std::make_shared<token_bucket>(cfg.qps_limit, cfg.qps_limit) : nullptr;
  _total = cfg.bandwidth_total > 0
               ? std::make_shared<token_bucket>(static_cast<double>(cfg.bandwidth_total),
                                                static_cast<double>(cfg.bandwidth_total) / 10)
               : nullptr;
  _cfg = std::move(cfg);
}

fault_config faults::config() const {
  std::lock_guard lock(_mu);
  return _cfg;
}

uint64_t faults::next_random() {
  _rng_state += 0x9e3779b97f4a7c15ULL;
  return splitmix64(_rng_state);
}

fault_decision faults::decide(std::string_view key, clock_type::time_point now) {
  std::lock_guard lock(_mu);
  fault_decision d;
  uint64_t jitter = _cfg.jitter_ms > 0 ? next_random() % (_cfg.jitter_ms + 1) : 0;
  d.latency = std::chrono::milliseconds(_cfg.latency_ms + jitter);
  d.ttfb = std::chrono::milliseconds(_cfg.ttfb_ms);
  if (_qps) {
    std::chrono::nanoseconds wait;
    if (!_qps->try_take(now, wait)) {
      d.action.kind = fault_kind::qps_limited;
      d.qos_delay_ms =
          static_cast<uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
      return d;
    }
  }
  std::string k(key);
  for (fault_rule& r : _cfg.rules) {
    if (r.remaining == 0) {
      continue;
    }
    if (!r.pattern.empty() && ::fnmatch(r.pattern.c_str(), k.c_str(), 0) != 0) {
      continue;
    }
    // 53 random bits -> [0, 1).
    double u = static_cast<double>(next_random() >> 11) / 9007199254740992.0;
    if (u >= r.rate) {
      continue;
    }
    if (r.remaining > 0) {
      --r.remaining;
    }
    d.action.kind = r.kind;
    d.action.bytes = r.bytes;
    d.action.stall = std::chrono::milliseconds(r.stall_ms != 0 ? r.stall_ms : 60000);
    break;
  }
  return d;
}

std::chrono::milliseconds faults::connect_delay() const {
  std::lock_guard lock(_mu);
  return std::chrono::milliseconds(_cfg.connect_delay_ms);
}

std::unique_ptr<token_bucket> faults::make_connection_bucket() const {
  std::lock_guard lock(_mu);
  if (_cfg.bandwidth == 0) {
    return nullptr;
  }
  double rate = static_cast<double>(_cfg.bandwidth);
  return std::make_unique<token_bucket>(rate, rate / 10);
}

std::shared_ptr<token_bucket> faults::total_bucket() const {
  std::lock_guard lock(_mu);
  return _total;
}

namespace {

result<uint64_t> parse_u64(std::string_view s, std::string_view what) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
    return make_error(EINVAL,
                      std::string(what) + ": expected a number, got '" + std::string(s) + "'");
  }
  return v;
}

result<double> parse_double(std::string_view s, std::string_view what) {
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || end != tmp.c_str() + tmp.size() || !(v >= 0)) {
    return make_error(EINVAL, std::string(what) + ": expected a number, got '" + tmp + "'");
  }
  return v;
}

}  // namespace

result<fault_rule> parse_fault_rule(std::string_view spec) {
  fault_rule r;
  std::string_view s = spec;
  if (size_t at = s.find('@'); at != std::string_view::npos) {
    r.pattern = std::string(s.substr(at + 1));
    s = s.substr(0, at);
  }
  if (size_t hash = s.find('#'); hash != std::string_view::npos) {
    auto n = parse_u64(s.substr(hash + 1), "fault count");
    if (!n) {
      return std::move(n).err();
    }
    r.remaining = static_cast<int64_t>(*n);
    s = s.substr(0, hash);
  }
  if (size_t colon = s.find(':'); colon != std::string_view::npos) {
    auto rate = parse_double(s.substr(colon + 1), "fault rate");
    if (!rate || *rate > 1) {
      return make_error(EINVAL, "fault rate must be in [0, 1] in '" + std::string(spec) + "'");
    }
    r.rate = *rate;
    s = s.substr(0, colon);
  }
  std::string_view arg;
  if (size_t eq = s.find('='); eq != std::string_view::npos) {
    arg = s.substr(eq + 1);
    s = s.substr(0, eq);
  }
  if (s == "503") {
    r.kind = fault_kind::http_503;
  } else if (s == "500") {
    r.kind = fault_kind::http_500;
  } else if (s == "reset") {
    r.kind = fault_kind::reset_after_bytes;
  } else if (s == "truncate") {
    r.kind = fault_kind::truncate_body;
  } else if (s == "bad-length") {
    r.kind = fault_kind::wrong_content_length;
  } else if (s == "stall") {
    r.kind = fault_kind::stall;
  } else {
    return make_error(EINVAL, "unknown fault kind '" + std::string(s) +
                                  "' (expected 503, 500, reset, truncate, bad-length, stall)");
  }
  if (!arg.empty()) {
    auto n = r.kind == fault_kind::stall ? parse_u64(arg, "stall ms") : parse_size(arg);
    if (!n) {
      return std::move(n).err();
    }
    (r.kind == fault_kind::stall ? r.stall_ms : r.bytes) = *n;
  }
  if (r.kind == fault_kind::wrong_content_length && r.bytes == 0) {
    r.bytes = 1;
  }
  return r;
}

status apply_fault_setting(fault_config& cfg, std::string_view name, std::string_view value) {
  auto set_ms = [&](uint64_t& field) -> status {
    auto v = parse_u64(value, name);
    if (!v) {
      return std::move(v).err();
    }
    field = *v;
    return {};
  };
  auto set_size = [&](uint64_t& field) -> status {
    auto v = parse_size(value);
    if (!v) {
      return std::move(v).err();
    }
    field = *v;
    return {};
  };
  if (name == "latency" || name == "latency_ms") {
    size_t colon = value.find(':');
    if (colon != std::string_view::npos) {
      auto j = parse_u64(value.substr(colon + 1), "latency jitter");
      if (!j) {
        return std::move(j).err();
      }
      cfg.jitter_ms = *j;
      value = value.substr(0, colon);
    }
    return set_ms(cfg.latency_ms);
  }
  if (name == "jitter" || name == "jitter_ms") {
    return set_ms(cfg.jitter_ms);
  }
  if (name == "ttfb" || name == "ttfb_ms") {
    return set_ms(cfg.ttfb_ms);
  }
  if (name == "connect_delay" || name == "connect_delay_ms" || name == "connect-delay") {
    return set_ms(cfg.connect_delay_ms);
  }
  if (name == "bandwidth") {
    return set_size(cfg.bandwidth);
  }
  if (name == "bandwidth_total" || name == "bandwidth-total") {
    return set_size(cfg.bandwidth_total);
  }
  if (name == "seed") {
    return set_ms(cfg.seed);
  }
  if (name == "qps_limit" || name == "qps-limit") {
    auto v = parse_double(value, name);
    if (!v) {
      return std::move(v).err();
    }
    cfg.qps_limit = *v;
    return {};
  }
  if (name == "fault") {
    auto r = parse_fault_rule(value);
    if (!r) {
      return std::move(r).err();
    }
    cfg.rules.push_back(std::move(*r));
    return {};
  }
  if (name == "clear_faults") {
    cfg.rules.clear();
    return {};
  }
  return make_error(EINVAL, "unknown fault setting '" + std::string(name) + "'");
}

result<fault_config> parse_fault_json(std::string_view json, fault_config base) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(simdjson::padded_string(json)).get(doc); err) {
    return make_error(EINVAL, std::string("fault JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) {
    return make_error(EINVAL, "fault JSON: expected an object");
  }
  for (auto field : obj) {
    std::string_view name = field.key;
    if (name == "faults") {
      simdjson::dom::array arr;
      if (field.value.get(arr) != simdjson::SUCCESS) {
        return make_error(EINVAL, "fault JSON: \"faults\" must be an array of strings");
      }
      base.rules.clear();
      for (auto item : arr) {
        std::string_view spec;
        if (item.get(spec) != simdjson::SUCCESS) {
          return make_error(EINVAL, "fault JSON: \"faults\" must be an array of strings");
        }
        auto r = parse_fault_rule(spec);
        if (!r) {
          return std::move(r).err();
        }
        base.rules.push_back(std::move(*r));
      }
      continue;
    }
    std::string value;
    std::string_view sv;
    double d = 0;
    uint64_t u = 0;
    if (field.value.get(sv) == simdjson::SUCCESS) {
      value = std::string(sv);
    } else if (field.value.get(u) == simdjson::SUCCESS) {
      value = std::to_string(u);
    } else if (field.value.get(d) == simdjson::SUCCESS) {
      value = std::to_string(d);
    } else {
      return make_error(EINVAL, "fault JSON: bad value for \"" + std::string(name) + "\"");
    }
    if (auto s = apply_fault_setting(base, name, value); !s) {
      return std::move(s).err();
    }
  }
  return base;
}

std::string fault_config_json(const fault_config& cfg) {
  std::string s = "{\"latency_ms\":" + std::to_string(cfg.latency_ms) +
                  ",\"jitter_ms\":" + std::to_string(cfg.jitter_ms) +
                  ",\"ttfb_ms\":" + std::to_string(cfg.ttfb_ms) +
                  ",\"connect_delay_ms\":" + std::to_string(cfg.connect_delay_ms) +
                  ",\"bandwidth\":" + std::to_string(cfg.bandwidth) +
                  ",\"bandwidth_total\":" + std::to_string(cfg.bandwidth_total) +
                  ",\"qps_limit\":" + std::to_string(cfg.qps_limit) +
                  ",\"seed\":" + std::to_string(cfg.seed) + ",\"faults\":[";
  for (size_t i = 0; i < cfg.rules.size(); ++i) {
    const fault_rule& r = cfg.rules[i];
    s += i ? ",{" : "{";
    s += "\"kind\":\"" + std::string(fault_kind_name(r.kind)) +
         "\",\"rate\":" + std::to_string(r.rate) + ",\"bytes\":" + std::to_string(r.bytes) +
         ",\"stall_ms\":" + std::to_string(r.stall_ms) +
         ",\"remaining\":" + std::to_string(r.remaining) + ",\"pattern\":\"";
    for (char c : r.pattern) {
      if (c == '"' || c == '\\') {
        s += '\\';
      }
      s += c;
    }
    s += "\"}";
  }
  s += "]}";
  return s;
}

}  // namespace ossuring::emu
