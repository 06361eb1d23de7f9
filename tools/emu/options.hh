// Command-line options of the `ossemu` program and their translation into a handler_config.
// Parsing never exits: errors come back as result errors (main prints them and exits 2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hh"
#include "http/oss/sign.hh"
#include "tools/emu/ecs.hh"
#include "tools/emu/faults.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

struct bucket_option {
  std::string name;
  std::string source;  // folder path, synthetic spec, or "memory"
};

struct options {
  std::string listen = "127.0.0.1:8080";
  std::vector<bucket_option> buckets;
  std::vector<oss::credentials> keys;
  bool anonymous = false;
  std::string tls_cert;
  std::string tls_key;
  fault_config faults;
  std::string admin;  // admin listener address; empty: none
  std::string region = "cn-hangzhou";
  std::string ecs;  // fake ECS metadata listener address; empty: none
  std::string ecs_role = "ossemu-role";
  bool ecs_hardened = false;
  uint64_t copy_limit = 1ULL << 30;  // CopyObject's largest source, as OSS's 1 GB
  std::string owner_id;  // empty: derived from the first access key id (derive_owner_id)
  std::vector<std::string> alpn = {"h2", "http/1.1"};  // offered over TLS, server preference
  bool help = false;
};

// argv[0] is the program name. Accepts --name=value and --name value.
result<options> parse_options(int argc, const char* const* argv);
std::string usage();

// Opens every bucket's store and fills the handler configuration.
result<handler_config> make_handler_config(const options& opts);
// The fake ECS endpoint serves the first STS key (or the first key) of the options.
ecs_config make_ecs_config(const options& opts);

// "host:port", "[v6]:port" or ":port" (all addresses); EINVAL otherwise.
status check_address(std::string_view addr);

}  // namespace ossuring::emu
