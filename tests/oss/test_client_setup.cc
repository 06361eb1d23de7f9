// tools/cli/client_setup: endpoint and region resolution, oss_client settings and the
// credentials chain built from a mount_config.
#include <doctest/doctest.h>

#include "tests/support/sync_wait.hh"
#include "tools/cli/client_setup.hh"

using namespace ossuring;
using namespace ossuring::cli;

TEST_CASE("the region comes from the flag or from an OSS endpoint name") {
  mount_config cfg;
  auto region_of = [&](std::string endpoint) {
    cfg.endpoint = std::move(endpoint);
    auto ep = resolve_endpoint(cfg);
    REQUIRE(ep.ok());
    return resolve_region(cfg, *ep);
  };
  CHECK(region_of("oss-cn-hangzhou.aliyuncs.com") == "cn-hangzhou");
  CHECK(region_of("https://oss-cn-beijing-internal.aliyuncs.com") == "cn-beijing");
  CHECK(region_of("cn-shanghai.oss.aliyuncs.com") == "cn-shanghai");
  CHECK(region_of("oss-accelerate.aliyuncs.com").empty());
  CHECK(region_of("http://127.0.0.1:9000").empty());
  cfg.region = "oss-ap-southeast-1";
  CHECK(region_of("http://127.0.0.1:9000") == "ap-southeast-1");
}

TEST_CASE("without an endpoint the region's public endpoint is used; without either, EINVAL") {
  mount_config cfg;
  CHECK(resolve_endpoint(cfg).err().code == EINVAL);
  cfg.region = "cn-hangzhou";
  auto ep = resolve_endpoint(cfg);
  REQUIRE(ep.ok());
  CHECK(ep->host == "oss-cn-hangzhou.aliyuncs.com");
  CHECK(ep->tls);
  CHECK(ep->port == 443);
}

TEST_CASE(
    "oss_config carries bucket, addressing, signing, attempts, timeout and the shared limiter") {
  mount_config cfg;
  cfg.bucket = "b";
  cfg.endpoint = "http://127.0.0.1:9000";
  cfg.path_style = true;
  cfg.sign_version = "v1";
  cfg.retries = 5;
  cfg.request_timeout_ms = 1234;
  auto ep = resolve_endpoint(cfg);
  REQUIRE(ep.ok());
  oss::client_config c = oss_config(cfg, *ep);
  // --request-timeout bounds each whole attempt, and is the first-byte and stall period too.
  CHECK(c.request_timeout == std::chrono::milliseconds(1234));
  CHECK(http_options(cfg).first_byte_timeout == std::chrono::milliseconds(1234));
  CHECK(c.bucket == "b");
  CHECK(c.path_style);
  CHECK(c.sign_version == 1);
  CHECK(c.retry.max_attempts == 5);
  REQUIRE(c.limiter);
  CHECK(c.limiter == oss_config(cfg, *ep).limiter);  // one bucket for the whole process
  CHECK(c.endpoint.port == 9000);
}

TEST_CASE("access key flags come first in the credentials chain") {
  mount_config cfg;
  cfg.bucket = "b";
  cfg.access_key_id = "LTAI5tFlagKey";
  cfg.access_key_secret = "flag-secret";
  auto chain = make_credentials_chain(cfg, nullptr);
  auto creds = test::sync_wait(chain->get());
  REQUIRE(creds.ok());
  CHECK(creds->access_key_id == "LTAI5tFlagKey");
  CHECK(creds->access_key_secret == "flag-secret");
  CHECK(chain->describe().find("flag-secret") == std::string::npos);
}
