// The node plugin's volumes: publish (an `ossuring mount` at kubelet's target path), unpublish,
// usage, and the records under the data folder that let a restarted plugin know the mounts it
// made (the mounts themselves live on in their own daemons; see docs/kubernetes.md).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "tools/csi/mount_plan.hh"

namespace ossuring::csi {

// The gRPC status codes the node service answers with (grpc::StatusCode's values).
enum class rpc_code {
  ok = 0,
  invalid_argument = 3,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  failed_precondition = 9,
  aborted = 10,
  internal = 13,
};

struct rpc_status {
  rpc_code code = rpc_code::ok;
  std::string message;
  bool ok() const { return code == rpc_code::ok; }
};

struct volume_usage {
  uint64_t bytes_total = 0, bytes_available = 0, bytes_used = 0;
  uint64_t inodes_total = 0, inodes_available = 0, inodes_used = 0;
  bool abnormal = false;
  std::string condition;  // why abnormal, for the operator
};

class volume_manager {
 public:
  struct config {
    std::string data_dir;  // records in DATA/volumes, mount logs in DATA/logs
    std::string ossuring;  // the `ossuring` executable
    // Each mount's daemon in a cgroup of its own outside the container's, so that it outlives
    // the container (--mounts-outlive-container; cgroup_escape.hh).
    bool outlive_container = false;
  };

  explicit volume_manager(config cfg);

  // Reads the records of an earlier run against /proc/self/mountinfo: live and dead mounts are
  // kept (so a repeated publish is recognised and unpublish cleans up), records of targets
  // unmounted meanwhile are dropped. Returns the number of live mounts found.
  size_t rediscover();

  rpc_status publish(const publish_params& p);
  rpc_status unpublish(const std::string& volume_id, const std::string& target);
  rpc_status usage(const std::string& volume_id, const std::string& path, volume_usage* out);

  // Records held (for logs and tests).
  size_t records() const;

 private:
  struct record {
    std::string volume_id;
    std::string target;
    std::string source;
    std::string fingerprint;
  };

  // One call at a time per target path: a second one gets ABORTED (the CSI spec's answer for
  // "an operation for this volume is already pending"; kubelet retries).
  class target_lock {
   public:
    target_lock(volume_manager& m, const std::string& target);
    ~target_lock();
    target_lock(const target_lock&) = delete;
    target_lock& operator=(const target_lock&) = delete;
    bool held() const { return _held; }

   private:
    volume_manager& _m;
    std::string _target;
    bool _held = false;
  };

  std::string record_path(const std::string& target) const;
  std::string log_path(const std::string& target) const;
  void save(const record& r);
  void forget(const std::string& target);
  rpc_status mount(const publish_params& p, const mount_plan& plan);

  config _cfg;
  std::string _volumes_dir;
  std::string _log_dir;
  mutable std::mutex _mutex;  // guards _records and _busy
  std::map<std::string, record> _records;
  std::set<std::string> _busy;
};

}  // namespace ossuring::csi
