// Volume attributes, mount flags and access mode to `ossuring mount` arguments (mount_plan.hh).
#include "tools/csi/mount_plan.hh"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <string_view>

#include "tools/cli/config.hh"
#include "tools/cli/detail/config_options.hh"

namespace ossuring::csi {
namespace {

// Attribute names that say where the data is. ACK's ossfs CSI driver names them bucket, url,
// path and otherOpts; ossuring's own and ossfs 2.0's option spellings work too.
constexpr std::array<std::string_view, 3> prefix_keys = {"path", "prefix", "oss_bucket_prefix"};
constexpr std::array<std::string_view, 3> endpoint_keys = {"url", "endpoint", "oss_endpoint"};
constexpr std::array<std::string_view, 2> options_keys = {"otherOpts", "options"};

// Secret keys, first spelling ACK's (akId/akSecret), then ours.
constexpr std::array<std::string_view, 4> id_keys = {"akId", "accessKeyId", "access-key-id",
                                                     "oss_access_key_id"};
constexpr std::array<std::string_view, 4> secret_keys = {
    "akSecret", "accessKeySecret", "access-key-secret", "oss_access_key_secret"};
constexpr std::array<std::string_view, 4> token_keys = {"securityToken", "stsToken", "sts-token",
                                                        "oss_session_token"};

template <size_t N>
bool one_of(std::string_view key, const std::array<std::string_view, N>& keys) {
  for (std::string_view k : keys) {
    if (k == key) {
      return true;
    }
  }
  return false;
}

template <size_t N>
std::string first_secret(const std::map<std::string, std::string>& secrets,
                         const std::array<std::string_view, N>& keys) {
  for (std::string_view k : keys) {
    if (auto it = secrets.find(std::string(k)); it != secrets.end() && !it->second.empty()) {
      return it->second;
    }
  }
  return {};
}

bool has_control_char(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

// Options the plugin sets itself, or that must not come from a volume's attributes: the
// credentials (they come from the Secret, never from a PV anyone with read access to PVs
// sees), a command to run as root, and what would keep `ossuring mount` from returning.
status check_allowed(std::string_view name) {
  using cli::detail::find_option;
  const cli::detail::option_def* d = find_option(name);
  if (d == nullptr) {
    return {};  // unknown names are refused by the option parser, with its message
  }
  for (std::string_view secret : {"access-key-id", "access-key-secret", "sts-token"}) {
    if (d == find_option(secret)) {
      return make_error(EINVAL, "volume attribute/mount option " + std::string(name) +
                                    ": credentials belong in the Secret named by the PV's "
                                    "nodePublishSecretRef (keys akId, akSecret, securityToken)");
    }
  }
  for (std::string_view own :
       {"foreground", "d", "log-dir", "control-socket", "credential-process", "passwd-file"}) {
    if (d == find_option(own)) {
      return make_error(EINVAL, "volume attribute/mount option " + std::string(name) +
                                    " is set by the CSI plugin and cannot be given per volume");
    }
  }
  return {};
}

// "-o a=b,c -o d --e=f" or "a=b,c" (ACK's otherOpts, fstab lists) into items "a=b", "c", ...
status split_options(std::string_view text, std::vector<std::string>* items) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t b = text.find_first_not_of(" \t\n", pos);
    if (b == std::string_view::npos) {
      break;
    }
    size_t e = text.find_first_of(" \t\n", b);
    e = e == std::string_view::npos ? text.size() : e;
    std::string_view token = text.substr(b, e - b);
    pos = e;
    if (token == "-o") {
      continue;  // the list follows as the next token
    }
    if (token.starts_with("-o") && token.size() > 2) {
      token.remove_prefix(2);
    }
    while (token.starts_with("-")) {
      token.remove_prefix(1);
    }
    while (!token.empty()) {
      size_t comma = token.find(',');
      std::string_view item = token.substr(0, comma);
      token = comma == std::string_view::npos ? "" : token.substr(comma + 1);
      if (!item.empty()) {
        items->emplace_back(item);
      }
    }
  }
  return {};
}

std::string item_name(std::string_view item) {
  return std::string(item.substr(0, item.find('=')));
}

// Whether the items ask for writes (ossuring's and ossfs 2.0's spellings; later ones win).
bool asks_for_writes(const std::vector<std::string>& items) {
  bool writes = false;
  for (const std::string& item : items) {
    if (item == "rw" || item == "writable" || item == "ro=false" || item == "read-only=false") {
      writes = true;
    } else if (item == "ro" || item == "read-only" || item == "ro=true") {
      writes = false;
    }
  }
  return writes;
}

}  // namespace

std::string sha256_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

result<mount_plan> plan_mount(const publish_params& p, const std::string& log_dir) {
  std::string bucket;
  std::string prefix;
  std::string endpoint;
  std::vector<std::string> items;
  for (const auto& [key, value] : p.context) {
    if (key.starts_with("csi.storage.k8s.io/")) {
      continue;  // what kubelet adds (pod name, service account) when podInfoOnMount is set
    }
    if (has_control_char(value)) {
      return make_error(EINVAL, "volume attribute " + key + " holds a control character");
    }
    if (key == "bucket" || key == "oss_bucket") {
      bucket = value;
    } else if (key == "fuseType") {
      // ACK's choice of FUSE client for its ossfs driver's PVs (ossfs, ossfs2): here it is
      // always ossuring, which takes ossfs 2.0's option spellings.
      if (value != "ossfs" && value != "ossfs2" && value != "ossuring") {
        return make_error(EINVAL, "volume attribute fuseType=" + value +
                                      " is not known: ossfs2 (or ossfs, ossuring), or none");
      }
    } else if (key == "authType") {
      // ACK's authType: sts takes the ECS node's RAM role (roleName); rrsa, csi-secret-store
      // and the rest need ACK's controller, which this driver has not.
      if (value != "sts") {
        return make_error(EINVAL, "volume attribute authType=" + value +
                                      " is not supported: use a Secret (nodePublishSecretRef) "
                                      "or authType: sts with roleName (the node's RAM role)");
      }
    } else if (key == "roleName") {
      items.push_back("ram_role=" + value);
    } else if (one_of(key, prefix_keys)) {
      prefix = value;
    } else if (one_of(key, endpoint_keys)) {
      endpoint = value;
    } else if (one_of(key, options_keys)) {
      if (status s = split_options(value, &items); !s.ok()) {
        return std::move(s).err();
      }
    } else {
      // Any other attribute is one option: `attr_timeout: "60"`, `mode: lazy`, `rw: ""`.
      items.push_back(value.empty() ? key : key + "=" + value);
    }
  }
  for (const std::string& flag : p.mount_flags) {
    if (has_control_char(flag)) {
      return make_error(EINVAL, "a mount option holds a control character");
    }
    if (status s = split_options(flag, &items); !s.ok()) {
      return std::move(s).err();
    }
  }
  if (bucket.empty()) {
    return make_error(EINVAL,
                      "volume attribute bucket is missing: set spec.csi.volumeAttributes.bucket "
                      "in the PersistentVolume");
  }
  if (bucket.find('/') != std::string::npos) {
    return make_error(EINVAL, "volume attribute bucket=" + bucket +
                                  " holds a '/': give the folder in the path attribute");
  }
  while (prefix.starts_with("/")) {
    prefix.erase(0, 1);
  }
  for (const std::string& item : items) {
    if (status s = check_allowed(item_name(item)); !s.ok()) {
      return std::move(s).err();
    }
  }

  mount_plan plan;
  plan.read_only = p.readonly || p.reader_only_mode || !asks_for_writes(items);
  std::vector<std::string>& args = plan.args;
  args.push_back("oss://" + bucket + "/" + prefix);
  args.push_back(p.target);
  if (!endpoint.empty()) {
    args.push_back("--endpoint=" + endpoint);
  }
  for (const std::string& item : items) {
    args.push_back("--" + item);
  }
  // Pods run as any user: without allow_other only root could enter the mount.
  args.push_back("--allow-other");
  if (plan.read_only) {
    args.push_back("--ro");  // last: wins over an rw among the items
  }

  std::string id = first_secret(p.secrets, id_keys);
  std::string secret = first_secret(p.secrets, secret_keys);
  std::string token = first_secret(p.secrets, token_keys);
  if (id.empty() != secret.empty()) {
    return make_error(EINVAL, std::string("the Secret of nodePublishSecretRef has ") +
                                  (id.empty() ? "akSecret but no akId" : "akId but no akSecret") +
                                  ": give both (and securityToken for STS keys)");
  }
  if (!token.empty() && id.empty()) {
    return make_error(EINVAL,
                      "the Secret of nodePublishSecretRef has securityToken without the temporary "
                      "akId and akSecret it was issued with");
  }
  if (has_control_char(id) || has_control_char(secret) || has_control_char(token)) {
    return make_error(EINVAL,
                      "a value in the Secret of nodePublishSecretRef holds a control character "
                      "(a trailing newline? create it with kubectl create secret generic "
                      "--from-literal)");
  }
  if (!id.empty()) {
    plan.credentials = "--access-key-id=" + id + "\n--access-key-secret=" + secret + "\n";
    if (!token.empty()) {
      plan.credentials += "--sts-token=" + token + "\n";
    }
  }

  // The option parser of `ossuring mount` judges every option now, so a typo is an
  // INVALID_ARGUMENT naming it rather than a failed mount.
  result<cli::mount_config> cfg = cli::parse_mount_args(args);
  if (!cfg.ok()) {
    return make_error(EINVAL, "volume attributes/mount options: " + cfg.err().message);
  }
  plan.source = "oss://" + cfg->bucket + "/" + cfg->prefix;
  // A read-only index mount survives a crash of its daemon under a supervisor (readers pause
  // instead of failing): used wherever the options allow it.
  std::vector<std::string> supervised = args;
  supervised.push_back("--supervise");
  if (!cfg->supervise && cli::parse_mount_args(supervised).ok()) {
    args = std::move(supervised);
  }
  args.push_back("--log-dir=" + log_dir);

  std::string what = p.volume_id;
  for (const std::string& a : args) {
    what += '\0';
    what += a;
  }
  plan.fingerprint = sha256_hex(what);
  return plan;
}

}  // namespace ossuring::csi
