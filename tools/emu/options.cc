// ossemu option parsing.
#include "tools/emu/options.hh"

#include <charconv>

namespace ossuring::emu {

namespace {

bool is_synthetic(std::string_view source) {
  for (std::string_view p : {"imagenet:", "flat:", "deep:", "big:"}) {
    if (source.starts_with(p)) {
      return true;
    }
  }
  return false;
}

// Bucket names as OSS allows them: 3..63 of [a-z0-9-], not starting or ending with '-'.
bool valid_bucket_name(std::string_view n) {
  if (n.size() < 3 || n.size() > 63 || n.front() == '-' || n.back() == '-') {
    return false;
  }
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string usage() {
  return R"(usage: ossemu [options]
  --listen ADDR              S3/OSS listener, host:port (default 127.0.0.1:8080)
  --bucket NAME=SOURCE       repeatable; SOURCE is a folder, "memory", or a synthetic spec:
                             imagenet:D:F[:SIZE]  flat:N[:SIZE]  deep:N[:SIZE]  big:SIZE[:KEY]
                             (join several with '+')
  --access-key-id ID         credentials accepted (repeat the trio for several keys)
  --access-key-secret SECRET
  --sts-token TOKEN          the previous key is an STS key needing this token
  --anonymous                accept unsigned (and S3-signed) requests
  --region REGION            region for V4 scopes and Location (default cn-hangzhou)
  --tls-cert FILE --tls-key FILE   serve TLS (HTTP/2 via ALPN)
  --latency MS[:JITTER]      added before every response
  --ttfb MS                  between response headers and the first body byte
  --connect-delay MS         before serving a new connection
  --bandwidth RATE           per connection, bytes/s (e.g. 10MiB)
  --bandwidth-total RATE     all connections together
  --qps-limit N              account QPS; beyond it 503 TotalQpsLimitExceeded
  --fault SPEC               repeatable: KIND[=N][:RATE][#COUNT][@GLOB], KIND one of
                             503 500 reset truncate bad-length stall
  --seed N                   RNG seed for jitter and faults (default 1)
  --admin ADDR               admin listener (/_admin/stats, /_admin/reset, /_admin/faults)
  --ecs ADDR                 fake ECS metadata listener; --ecs-role NAME; --ecs-hardened
  --copy-limit SIZE          largest CopyObject source (default 1GiB, as OSS); larger ones
                             need UploadPartCopy
  --owner-id DIGITS          the account owning the buckets (Owner/ID in listings; default:
                             16 digits derived from the first --access-key-id)
  --alpn LIST                protocols offered by ALPN over TLS, in preference order
                             (default h2,http/1.1; http/1.1 alone is a server without HTTP/2)
  --help
)";
}

status check_address(std::string_view addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) {
    return make_error(EINVAL, "address '" + std::string(addr) + "' needs a port (host:port)");
  }
  std::string_view host = addr.substr(0, colon);
  std::string_view port = addr.substr(colon + 1);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p > 65535) {
    return make_error(EINVAL, "bad port in address '" + std::string(addr) + "'");
  }
  if (host.find(':') != std::string_view::npos && !(host.starts_with('[') && host.ends_with(']'))) {
    return make_error(EINVAL, "IPv6 addresses need brackets: '" + std::string(addr) + "'");
  }
  return {};
}

result<options> parse_options(int argc, const char* const* argv) {
  options o;
  auto err = [](std::string msg) { return make_error(EINVAL, std::move(msg)); };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) {
      return err("unexpected argument '" + std::string(arg) + "'");
    }
    std::string_view name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
      has_value = true;
    }
    auto flag = [&](bool& field) -> status {
      if (has_value) {
        return err("--" + std::string(name) + " takes no value");
      }
      field = true;
      return {};
    };
    if (name == "help") {
      if (auto s = flag(o.help); !s) {
        return std::move(s).err();
      }
      continue;
    }
    if (name == "anonymous") {
      if (auto s = flag(o.anonymous); !s) {
        return std::move(s).err();
      }
      continue;
    }
    if (name == "ecs-hardened") {
      if (auto s = flag(o.ecs_hardened); !s) {
        return std::move(s).err();
      }
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return err("--" + std::string(name) + " needs a value");
      }
      value = argv[++i];
    }
    if (name == "listen" || name == "admin" || name == "ecs") {
      if (auto s = check_address(value); !s) {
        return err("--" + std::string(name) + ": " + s.err().message);
      }
      (name == "listen" ? o.listen : name == "admin" ? o.admin : o.ecs) = value;
    } else if (name == "bucket") {
      size_t eq = value.find('=');
      if (eq == std::string::npos || eq + 1 == value.size()) {
        return err("--bucket expects NAME=DIR or NAME=SPEC, got '" + value + "'");
      }
      bucket_option b{value.substr(0, eq), value.substr(eq + 1)};
      if (!valid_bucket_name(b.name)) {
        return err("--bucket: invalid bucket name '" + b.name +
                   "' (3-63 characters of a-z, 0-9 and '-')");
      }
      for (const bucket_option& other : o.buckets) {
        if (other.name == b.name) {
          return err("--bucket: bucket '" + b.name + "' given twice");
        }
      }
      o.buckets.push_back(std::move(b));
    } else if (name == "access-key-id") {
      o.keys.push_back({value, "", ""});
    } else if (name == "access-key-secret" || name == "sts-token") {
      if (o.keys.empty()) {
        return err("--" + std::string(name) + " must follow --access-key-id");
      }
      (name == "sts-token" ? o.keys.back().security_token : o.keys.back().access_key_secret) =
          value;
    } else if (name == "tls-cert") {
      o.tls_cert = value;
    } else if (name == "tls-key") {
      o.tls_key = value;
    } else if (name == "region") {
      o.region = value;
    } else if (name == "ecs-role") {
      o.ecs_role = value;
    } else if (name == "alpn") {
      o.alpn.clear();
      std::string_view rest = value;
      while (!rest.empty()) {
        std::string_view item = rest.substr(0, rest.find(','));
        rest.remove_prefix(std::min(rest.size(), item.size() + 1));
        if (item != "h2" && item != "http/1.1") {
          return err("--alpn takes h2 and http/1.1, got '" + std::string(item) + "'");
        }
        o.alpn.emplace_back(item);
      }
      if (o.alpn.empty()) {
        return err("--alpn needs at least one protocol");
      }
    } else if (name == "owner-id") {
      // OSS account ids are decimal numbers.
      bool digits = !value.empty() && value.size() <= 32;
      for (char ch : value) {
        digits = digits && ch >= '0' && ch <= '9';
      }
      if (!digits) {
        return err("--owner-id expects 1 to 32 decimal digits, got '" + value + "'");
      }
      o.owner_id = value;
    } else if (name == "copy-limit") {
      auto v = parse_size(value);
      if (!v) {
        return err("--copy-limit: " + v.err().message);
      }
      o.copy_limit = *v;
    } else if (name == "latency" || name == "ttfb" || name == "connect-delay" ||
               name == "bandwidth" || name == "bandwidth-total" || name == "qps-limit" ||
               name == "fault" || name == "seed") {
      if (auto s = apply_fault_setting(o.faults, name, value); !s) {
        return err("--" + std::string(name) + ": " + s.err().message);
      }
    } else {
      return err("unknown option --" + std::string(name) + " (see --help)");
    }
  }
  if (o.help) {
    return o;
  }
  for (const oss::credentials& k : o.keys) {
    if (k.access_key_secret.empty()) {
      return err("--access-key-id " + k.access_key_id + " has no --access-key-secret");
    }
  }
  if (o.keys.empty() && !o.anonymous) {
    return err("give --access-key-id/--access-key-secret, or --anonymous");
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return err("--tls-cert and --tls-key go together");
  }
  if (o.buckets.empty()) {
    return err("at least one --bucket NAME=SOURCE is needed");
  }
  return o;
}

result<handler_config> make_handler_config(const options& opts) {
  handler_config cfg;
  for (const bucket_option& b : opts.buckets) {
    result<std::shared_ptr<store>> s = b.source == "memory"
                                           ? result<std::shared_ptr<store>>(make_memory_store())
                                       : is_synthetic(b.source) ? make_synthetic_store(b.source)
                                                                : make_folder_store(b.source);
    if (!s) {
      return make_error(s.err().code, "--bucket " + b.name + ": " + s.err().message);
    }
    cfg.buckets.push_back({b.name, std::move(*s)});
  }
  cfg.auth.keys = opts.keys;
  cfg.auth.anonymous = opts.anonymous;
  cfg.faults = opts.faults;
  cfg.region = opts.region;
  cfg.copy_limit = opts.copy_limit;
  cfg.owner_id = opts.owner_id;
  cfg.owner_id = owner_id_of(cfg);  // derived from the first key when none was given
  return cfg;
}

ecs_config make_ecs_config(const options& opts) {
  ecs_config e;
  e.role = opts.ecs_role;
  e.hardened = opts.ecs_hardened;
  for (const oss::credentials& k : opts.keys) {
    if (!k.security_token.empty()) {
      e.creds = k;
      return e;
    }
  }
  if (!opts.keys.empty()) {
    e.creds = opts.keys.front();
  }
  return e;
}

}  // namespace ossuring::emu
