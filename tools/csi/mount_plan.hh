// What NodePublishVolume turns into: the `ossuring mount` arguments for a volume's attributes,
// mount flags and access mode, the credentials text handed to it outside its command line, and
// the fingerprint that tells a repeated publish from a conflicting one. No gRPC types here, so
// the translation is unit-tested on its own (tests/csi/test_mount_plan.cc).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/result.hh"

namespace ossuring::csi {

// The parts of a NodePublishVolumeRequest the mount depends on.
struct publish_params {
  std::string volume_id;
  std::string target;
  std::map<std::string, std::string> context;  // volume_context (the PV's volumeAttributes)
  std::map<std::string, std::string> secrets;  // from nodePublishSecretRef; never logged
  std::vector<std::string> mount_flags;        // the PV's mountOptions
  bool readonly = false;                       // the request's readonly flag (PVC/pod readOnly)
  bool reader_only_mode = false;               // the access mode allows no writer
};

struct mount_plan {
  std::vector<std::string> args;  // after `ossuring mount`; holds no secret
  std::string credentials;        // a config file's text (`--access-key-id=...` lines), or ""
  std::string source;             // oss://bucket/prefix/ as mountinfo shows it
  bool read_only = true;
  std::string fingerprint;  // hex SHA-256 of what the mount depends on, secrets excluded
};

// Builds the plan; an EINVAL error's message says which attribute or secret to fix (it is
// returned to kubelet as INVALID_ARGUMENT and shown in the pod's events). `log_dir` is where
// the mount daemon logs (`--log-dir`).
result<mount_plan> plan_mount(const publish_params& p, const std::string& log_dir);

// Hex SHA-256 of `text`.
std::string sha256_hex(const std::string& text);

}  // namespace ossuring::csi
