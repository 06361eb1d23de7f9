// The CSI plugin's translation of volume attributes, mount flags and access modes into
// `ossuring mount` arguments (tools/csi/mount_plan.hh): spellings, read-only, credentials kept
// off the command line, refusals an operator can act on, fingerprints.
#include <doctest/doctest.h>

#include <algorithm>

#include "tools/csi/mount_plan.hh"

using namespace ossuring::csi;

namespace {

publish_params base() {
  publish_params p;
  p.volume_id = "pv-data";
  p.target = "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pv-data/mount";
  p.context = {{"bucket", "train"}, {"url", "oss-cn-hangzhou-internal.aliyuncs.com"}};
  return p;
}

bool has(const mount_plan& m, const std::string& arg) {
  return std::find(m.args.begin(), m.args.end(), arg) != m.args.end();
}

std::string joined(const mount_plan& m) {
  std::string all;
  for (const std::string& a : m.args) {
    all += a + " ";
  }
  return all;
}

}  // namespace

TEST_CASE("ACK's attribute names make the source, endpoint and options") {
  publish_params p = base();
  p.context["path"] = "/imagenet/train";
  p.context["otherOpts"] = "-o attr_timeout=30 -o max_list_ret_count=500,allow_other";
  auto plan = plan_mount(p, "/logs");
  REQUIRE(plan.ok());
  CHECK(plan->args[0] == "oss://train/imagenet/train");
  CHECK(plan->args[1] == p.target);
  CHECK(plan->source == "oss://train/imagenet/train/");
  CHECK(has(*plan, "--endpoint=oss-cn-hangzhou-internal.aliyuncs.com"));
  CHECK(has(*plan, "--attr_timeout=30"));
  CHECK(has(*plan, "--max_list_ret_count=500"));
  CHECK(has(*plan, "--log-dir=/logs"));
  CHECK(plan->read_only);
  CHECK(has(*plan, "--ro"));
  // Read-only index mode: supervised, so a crashed daemon is replaced under the readers.
  CHECK(has(*plan, "--supervise"));
  CHECK(plan->credentials.empty());
}

TEST_CASE("an ACK ossfs 2.0 PV works as written") {
  // The volumeAttributes of ACK's "ossfs 2.0 static volume" example, ossfs 2.0 option names in
  // otherOpts, and its node RAM role form (authType: sts, roleName).
  publish_params p = base();
  p.context = {{"fuseType", "ossfs2"},
               {"bucket", "train"},
               {"path", "/subpath"},
               {"url", "oss-cn-hangzhou-internal.aliyuncs.com"},
               {"otherOpts", "-o close_to_open=false -o total_mem_limit=4G -o ro=true"},
               {"authType", "sts"},
               {"roleName", "oss-reader"}};
  auto plan = plan_mount(p, "/logs");
  REQUIRE(plan.ok());
  CHECK(plan->source == "oss://train/subpath/");
  CHECK(has(*plan, "--total_mem_limit=4G"));
  CHECK(has(*plan, "--ram_role=oss-reader"));
  CHECK(plan->read_only);
  CHECK(joined(*plan).find("fuseType") == std::string::npos);
  CHECK(joined(*plan).find("authType") == std::string::npos);

  p.context["otherOpts"] = "-o ro=false";
  auto rw = plan_mount(p, "/logs");
  REQUIRE(rw.ok());
  CHECK_FALSE(rw->read_only);

  p.context["fuseType"] = "s3fs";
  auto other_fuse = plan_mount(p, "/logs");
  REQUIRE_FALSE(other_fuse.ok());
  CHECK(other_fuse.err().message.find("fuseType") != std::string::npos);

  p = base();
  p.context["authType"] = "rrsa";
  auto rrsa = plan_mount(p, "/logs");
  REQUIRE_FALSE(rrsa.ok());
  CHECK(rrsa.err().message.find("nodePublishSecretRef") != std::string::npos);
}

TEST_CASE("other attributes and the PV's mountOptions are options in any spelling") {
  publish_params p = base();
  p.context["oss_endpoint"] = "http://10.0.0.5:8080";
  p.context.erase("url");
  p.context["prefix"] = "data";
  p.context["readahead-max"] = "16M";
  p.context["csi.storage.k8s.io/pod.name"] = "trainer-0";
  p.mount_flags = {"negative_timeout=5", "-o dns-ttl=10"};
  auto plan = plan_mount(p, "/logs");
  REQUIRE(plan.ok());
  CHECK(has(*plan, "--endpoint=http://10.0.0.5:8080"));
  CHECK(has(*plan, "--readahead-max=16M"));
  CHECK(has(*plan, "--negative_timeout=5"));
  CHECK(has(*plan, "--dns-ttl=10"));
  CHECK(joined(*plan).find("trainer-0") == std::string::npos);
}

TEST_CASE("writes only when the options ask and the access mode and readonly flag allow") {
  publish_params p = base();
  p.context["otherOpts"] = "-o rw -o mode=lazy";
  auto rw = plan_mount(p, "/logs");
  REQUIRE(rw.ok());
  CHECK_FALSE(rw->read_only);
  CHECK_FALSE(has(*rw, "--ro"));
  CHECK_FALSE(has(*rw, "--supervise"));  // a writable mount is not supervised

  p.readonly = true;
  auto ro_flag = plan_mount(p, "/logs");
  REQUIRE(ro_flag.ok());
  CHECK(ro_flag->read_only);
  CHECK(ro_flag->args.back() != "--rw");
  CHECK(has(*ro_flag, "--ro"));

  p.readonly = false;
  p.reader_only_mode = true;
  auto ro_mode = plan_mount(p, "/logs");
  REQUIRE(ro_mode.ok());
  CHECK(ro_mode->read_only);
  CHECK(ro_mode->fingerprint != rw->fingerprint);
}

TEST_CASE("credentials come from the secret, as a config file, never as arguments") {
  publish_params p = base();
  p.secrets = {{"akId", "LTAIid"}, {"akSecret", "s3cr3t"}, {"securityToken", "tok"}};
  auto plan = plan_mount(p, "/logs");
  REQUIRE(plan.ok());
  CHECK(plan->credentials ==
        "--access-key-id=LTAIid\n--access-key-secret=s3cr3t\n--sts-token=tok\n");
  CHECK(joined(*plan).find("s3cr3t") == std::string::npos);
  CHECK(joined(*plan).find("LTAIid") == std::string::npos);
  // Rotating the secret is not a different publish.
  publish_params q = p;
  q.secrets["akSecret"] = "other";
  auto plan2 = plan_mount(q, "/logs");
  REQUIRE(plan2.ok());
  CHECK(plan2->fingerprint == plan->fingerprint);
}

TEST_CASE("refusals name what to fix") {
  publish_params p = base();
  p.context.erase("bucket");
  auto no_bucket = plan_mount(p, "/logs");
  REQUIRE_FALSE(no_bucket.ok());
  CHECK(no_bucket.err().message.find("bucket") != std::string::npos);

  p = base();
  p.context["oss_access_key_secret"] = "x";
  auto secret_attr = plan_mount(p, "/logs");
  REQUIRE_FALSE(secret_attr.ok());
  CHECK(secret_attr.err().message.find("nodePublishSecretRef") != std::string::npos);

  p = base();
  p.context["otherOpts"] = "-o credential_process=/bin/evil";
  CHECK_FALSE(plan_mount(p, "/logs").ok());

  p = base();
  p.mount_flags = {"foreground"};
  CHECK_FALSE(plan_mount(p, "/logs").ok());

  p = base();
  p.secrets = {{"akId", "LTAIid"}};
  auto half = plan_mount(p, "/logs");
  REQUIRE_FALSE(half.ok());
  CHECK(half.err().message.find("akSecret") != std::string::npos);

  p = base();
  p.secrets = {{"akId", "LTAIid"}, {"akSecret", "s\n--credential-process=/bin/evil"}};
  auto injected = plan_mount(p, "/logs");
  REQUIRE_FALSE(injected.ok());
  CHECK(injected.err().message.find("evil") == std::string::npos);

  p = base();
  p.context["attr_timeout"] = "soon";
  auto bad = plan_mount(p, "/logs");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("attr") != std::string::npos);

  p = base();
  p.context["no_such_option"] = "1";
  CHECK_FALSE(plan_mount(p, "/logs").ok());

  p = base();
  p.context.erase("url");
  auto no_endpoint = plan_mount(p, "/logs");
  REQUIRE_FALSE(no_endpoint.ok());
  CHECK(no_endpoint.err().message.find("endpoint") != std::string::npos);
}

TEST_CASE("the fingerprint follows the volume, target and options") {
  auto a = plan_mount(base(), "/logs");
  publish_params p = base();
  auto same = plan_mount(p, "/logs");
  p.context["path"] = "other";
  auto other_prefix = plan_mount(p, "/logs");
  p = base();
  p.volume_id = "pv-2";
  auto other_volume = plan_mount(p, "/logs");
  REQUIRE((a.ok() && same.ok() && other_prefix.ok() && other_volume.ok()));
  CHECK(a->fingerprint == same->fingerprint);
  CHECK(a->fingerprint != other_prefix->fingerprint);
  CHECK(a->fingerprint != other_volume->fingerprint);
  CHECK(a->fingerprint.size() == 64);
}
