// Test fixture: an emulator with a writable bucket and synthetic ones, reached through the
// in-process loopback, and oss_clients on it whose sleeps are recorded instead of waited.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/oss/client.hh"
#include "tests/support/emu_loopback.hh"
#include "tests/support/sync_wait.hh"
#include "tools/emu/handler.hh"

namespace ossuring::test {

inline constexpr std::string_view test_key_id = "LTAI5tTestKeyId0001";
inline constexpr std::string_view test_secret = "test-secret-0123456789";

inline std::shared_ptr<emu::store> synthetic(std::string_view spec) {
  auto s = emu::make_synthetic_store(spec);
  if (!s) {
    throw std::runtime_error(s.err().message);
  }
  return std::move(*s);
}

inline emu::handler_config emu_config() {
  emu::handler_config cfg;
  cfg.buckets.push_back({"rw", emu::make_memory_store()});
  cfg.buckets.push_back({"syn", synthetic("imagenet:25:100:1KiB")});  // 2,500 objects
  cfg.buckets.push_back({"flat", synthetic("flat:2500:64")});         // 2,500 at the root
  cfg.buckets.push_back({"big", synthetic("big:3MiB:blob.bin")});
  cfg.auth.keys.push_back({std::string(test_key_id), std::string(test_secret), "", 0});
  cfg.region = "cn-hangzhou";
  return cfg;
}

struct emu_fixture {
  emu::handler server{emu_config()};
  emu_loopback http{server};
  std::vector<std::chrono::nanoseconds> sleeps;  // every wait the clients asked for

  oss::client_config config(std::string bucket, int sign_version = 4) {
    oss::client_config c;
    c.bucket = std::move(bucket);
    c.endpoint = http::endpoint{"oss-cn-hangzhou.aliyuncs.com", 443, true};
    c.sign_version = sign_version;
    c.region = "cn-hangzhou";
    c.retry.base_delay = std::chrono::milliseconds(1);
    c.retry.max_delay = std::chrono::milliseconds(8);
    c.sleep = [this](std::chrono::nanoseconds d, abort_source* a) -> task<bool> {
      sleeps.push_back(d);
      co_return !(a && a->aborted());
    };
    return c;
  }

  std::unique_ptr<oss::oss_client> client(oss::client_config c,
                                          std::string secret = std::string(test_secret)) {
    auto creds = oss::make_static_provider(
        oss::credentials{std::string(test_key_id), std::move(secret), "", 0});
    return std::make_unique<oss::oss_client>(http, std::move(creds), std::move(c));
  }
  std::unique_ptr<oss::oss_client> client(std::string bucket, int sign_version = 4) {
    return client(config(std::move(bucket), sign_version));
  }

  void add_fault(emu::fault_rule rule) {
    emu::fault_config f = server.fault_model().config();
    f.rules.push_back(std::move(rule));
    server.fault_model().configure(f);
  }
  void clear_faults() { server.fault_model().configure(emu::fault_config{}); }
  uint64_t count(emu::api a) { return server.stats().requests(a); }
};

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Reads [offset, offset+length) (or to the end) into a fresh buffer of `cap` bytes.
struct read_out {
  result<oss::get_result> r;
  std::string data;
};
inline read_out read_range(oss::oss_client& c, std::string key, uint64_t offset,
                           std::optional<uint64_t> length, size_t cap, std::string if_match = {}) {
  std::string buf(cap, '\0');
  oss::get_request req;
  req.key = std::move(key);
  req.offset = offset;
  req.length = length;
  req.if_match = std::move(if_match);
  std::span<std::byte> dest(reinterpret_cast<std::byte*>(buf.data()), buf.size());
  result<oss::get_result> r = sync_wait(c.get_object(req, dest));
  if (r) {
    buf.resize(r->bytes);
  }
  return {std::move(r), std::move(buf)};
}

}  // namespace ossuring::test
