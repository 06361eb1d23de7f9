// The real http::client: endpoint parsing, protocol choice (ALPN, prior knowledge or HTTP/1.1),
// and the dispatch of exchanges to the HTTP/1.1 pool or the HTTP/2 connections.
#include "http/client.hh"

#include <algorithm>
#include <charconv>
#include <optional>
#include <stdexcept>

#include "core/event.hh"
#include "http/client_core.hh"
#include "http/h1_pool.hh"
#include "http/h2_pool.hh"

namespace ossuring::http {

namespace {

result<uint16_t> parse_port(std::string_view s, std::string_view whole) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) {
    return make_error(EINVAL, "bad port in endpoint '" + std::string(whole) + "'");
  }
  return static_cast<uint16_t>(v);
}

bool valid_host(std::string_view h) {
  if (h.empty()) {
    return false;
  }
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':';
  });
}

enum class proto { unknown, h1, h2 };

class client_impl final : public client {
 public:
  client_impl(endpoint ep, client_options opts) {
    _core.ep = std::move(ep);
    _core.opts = std::move(opts);
    const std::string& mode = _core.opts.http;
    if (mode == "1.1" || mode == "http/1.1") {
      _mode = proto::h1;
    } else if (mode == "2" || mode == "h2") {
      _mode = proto::h2;
    } else if (mode != "auto" && !mode.empty()) {
      throw std::invalid_argument("http mode must be auto, 1.1 or 2, not '" + mode + "'");
    }
    if (_core.ep.tls) {
      tls_client_config cfg;
      cfg.ca_file = _core.opts.ca_file;
      cfg.verify = _core.opts.verify_peer;
      cfg.alpn = _mode == proto::h1   ? std::vector<std::string>{"http/1.1"}
                 : _mode == proto::h2 ? std::vector<std::string>{"h2"}
                                      : std::vector<std::string>{"h2", "http/1.1"};
      auto ctx = tls_context::client(std::move(cfg));
      if (!ctx.ok()) {
        throw std::runtime_error("TLS set-up for " + _core.ep.to_string() + ": " +
                                 ctx.err().message);
      }
      _core.tls = std::move(*ctx);
    } else if (_mode == proto::unknown) {
      _mode = proto::h1;  // clear text: HTTP/2 only when asked for (prior knowledge)
    }
    _proto = _mode;
    const bool default_port = _core.ep.port == (_core.ep.tls ? 443 : 80);
    std::string host =
        _core.ep.host.find(':') != std::string::npos ? "[" + _core.ep.host + "]" : _core.ep.host;
    _authority = default_port ? host : host + ":" + std::to_string(_core.ep.port);
  }

  ~client_impl() override {
    // Background coroutines reference this object: close() must have been awaited.
    _h1.close_idle();
  }

  task<result<response>> send(exchange& ex) override {
    ++_core.stats.requests;
    if (_core.closing.aborted() || _core.background.closed()) {
      co_return _core.peer_error(ECANCELED, "client closed");
    }
    if (ex.req.authority.empty() && !ex.req.headers.has("host")) {
      ex.req.authority = _authority;
    }
    start_maintenance();
    detail::exchange_ctl ctl(_core, ex);
    result<proto> p = co_await protocol(ctl);
    if (!p.ok()) {
      co_return std::move(p).err();
    }
    if (*p == proto::h2) {
      co_return co_await _h2.send(ex, ctl);
    }
    co_return co_await _h1.send(ex, ctl);
  }

  task<void> close() override {
    _core.closing.request_abort();
    _h1.close_idle();
    _h2.close_all();
    co_await _core.background.close();
    _h1.close_idle();
  }

  client_stats stats() const override { return _core.stats; }
  std::string negotiated_protocol() const override { return _core.last_protocol; }

 private:
  // auto over TLS: the first connection's ALPN decides for the client; requests arriving while
  // it is negotiated wait for it.
  task<result<proto>> protocol(detail::exchange_ctl& ctl) {
    while (_proto == proto::unknown) {
      if (_probing) {
        // The connection being negotiated decides for us too; its failure is ours.
        uint64_t generation = _probe_generation;
        co_await _probed.wait();
        if (_probe_failure && _probe_generation == generation + 1) {
          co_return *_probe_failure;
        }
        continue;
      }
      _probing = true;
      result<std::unique_ptr<byte_stream>> s = co_await _core.connect(ctl.abort());
      _probing = false;
      ++_probe_generation;
      _probe_failure.reset();
      if (!s.ok()) {
        error e = ctl.failure(std::move(s).err(), "connect");
        if (e.code != ECANCELED) {
          _probe_failure = e;
        }
        _probed.set();
        _probed.reset();
        co_return e;
      }
      _probed.set();
      _probed.reset();
      if ((*s)->alpn() == "h2") {
        _proto = proto::h2;
        if (status st = _h2.adopt(std::move(*s)); !st.ok()) {
          co_return std::move(st).err();
        }
      } else {
        _proto = proto::h1;
        _core.last_protocol = "http/1.1";
        _h1.adopt(std::move(*s));
      }
    }
    co_return _proto;
  }

  void start_maintenance() {
    if (_maintaining) {
      return;
    }
    _maintaining = true;
    _core.background.spawn(maintain());
  }

  task<void> maintain() {
    auto period = std::clamp<std::chrono::nanoseconds>(
        _core.opts.idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::seconds(15));
    while (!_core.closing.aborted()) {
      co_await sleep_for(period, &_core.closing);
      if (_core.closing.aborted()) {
        break;
      }
      _h1.prune();
      _h2.tick(period);
    }
  }

  detail::client_core _core;
  detail::h1_pool _h1{_core};
  detail::h2_pool _h2{_core};
  proto _mode = proto::unknown;
  proto _proto = proto::unknown;
  bool _probing = false;
  event _probed;
  uint64_t _probe_generation = 0;
  std::optional<error> _probe_failure;
  bool _maintaining = false;
  std::string _authority;
};

}  // namespace

result<endpoint> parse_endpoint(std::string_view s) {
  endpoint ep;
  std::string_view rest = s;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    ep.tls = false;
  } else if (rest.find("://") != std::string_view::npos) {
    return make_error(EINVAL, "endpoint '" + std::string(s) + "': scheme must be http or https");
  }
  if (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  ep.port = ep.tls ? 443 : 80;
  std::string_view host = rest;
  if (rest.starts_with('[')) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return make_error(EINVAL, "endpoint '" + std::string(s) + "': missing ']'");
    }
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return make_error(EINVAL, "endpoint '" + std::string(s) + "': junk after ']'");
      }
      result<uint16_t> port = parse_port(after.substr(1), s);
      if (!port.ok()) {
        return std::move(port).err();
      }
      ep.port = *port;
    }
  } else if (size_t colon = rest.find(':'); colon != std::string_view::npos) {
    if (rest.find(':', colon + 1) != std::string_view::npos) {
      return make_error(EINVAL, "endpoint '" + std::string(s) + "': IPv6 addresses need [ ]");
    }
    host = rest.substr(0, colon);
    result<uint16_t> port = parse_port(rest.substr(colon + 1), s);
    if (!port.ok()) {
      return std::move(port).err();
    }
    ep.port = *port;
  }
  if (!valid_host(host) || (!rest.starts_with('[') && host.find(':') != std::string_view::npos)) {
    return make_error(EINVAL, "endpoint '" + std::string(s) + "': bad host name");
  }
  ep.host = std::string(host);
  return ep;
}

std::unique_ptr<client> make_client(endpoint ep, client_options opts) {
  return std::make_unique<client_impl>(std::move(ep), std::move(opts));
}

}  // namespace ossuring::http
