// Publish, unpublish and usage of volumes, and the records a restarted plugin reads (volumes.hh).
#include "tools/csi/volumes.hh"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "core/log.hh"
#include "tools/cli/control.hh"
#include "tools/cli/log_setup.hh"
#include "tools/cli/mountinfo.hh"
#include "tools/csi/launcher.hh"

namespace ossuring::csi {
namespace {

// How long NodeUnpublishVolume waits for a daemon to finish its uploads after the unmount:
// well inside kubelet's two-minute operation timeout.
constexpr int daemon_exit_wait_ms = 30'000;

rpc_status fail(rpc_code code, std::string message) {
  return {code, std::move(message)};
}

bool has_control_char(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

rpc_status check_path(const char* what, const std::string& path) {
  if (path.empty()) {
    return fail(rpc_code::invalid_argument, std::string(what) + " is missing");
  }
  if (path[0] != '/' || has_control_char(path)) {
    return fail(rpc_code::invalid_argument,
                std::string(what) + " must be an absolute path without control characters");
  }
  return {};
}

// Whether the mount at `path` still answers: a FUSE mount whose daemon died answers with
// ENOTCONN ("Transport endpoint is not connected"). statfs, not stat: the kernel answers a stat
// of the root from its attribute cache (index mode caches attributes for a long time) without
// asking the dead daemon; statfs always goes to the connection.
bool answers(const std::string& path) {
  struct statvfs sv {};
  return ::statvfs(path.c_str(), &sv) == 0 || errno != ENOTCONN;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

volume_manager::target_lock::target_lock(volume_manager& m, const std::string& target)
    : _m(m), _target(target) {
  std::lock_guard lock(_m._mutex);
  _held = _m._busy.insert(target).second;
}

volume_manager::target_lock::~target_lock() {
  if (_held) {
    std::lock_guard lock(_m._mutex);
    _m._busy.erase(_target);
  }
}

volume_manager::volume_manager(config cfg)
    : _cfg(std::move(cfg)),
      _volumes_dir(_cfg.data_dir + "/volumes"),
      _log_dir(_cfg.data_dir + "/logs") {
  for (const std::string& dir : {_volumes_dir, _log_dir}) {
    if (status s = cli::make_dirs(dir); !s.ok()) {
      log_error("csi_data_dir_unusable", {{"dir", dir}, {"error", s.err().message}});
    }
  }
}

std::string volume_manager::record_path(const std::string& target) const {
  return _volumes_dir + "/" + sha256_hex(target).substr(0, 32) + ".vol";
}

std::string volume_manager::log_path(const std::string& target) const {
  return _log_dir + "/" + cli::log_file_name(target);
}

void volume_manager::save(const record& r) {
  // Written whole to a temporary name and renamed: a plugin killed meanwhile leaves the old
  // record or the new one, never half of one.
  std::string path = record_path(r.target);
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "volume_id=" << r.volume_id << "\ntarget=" << r.target << "\nsource=" << r.source
      << "\nfingerprint=" << r.fingerprint << "\n";
    if (!f.flush()) {
      log_error("csi_record_not_saved", {{"target", r.target}, {"path", tmp}});
      return;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    log_error("csi_record_not_saved", {{"target", r.target}, {"error", std::strerror(errno)}});
  }
  std::lock_guard lock(_mutex);
  _records[r.target] = r;
}

void volume_manager::forget(const std::string& target) {
  ::unlink(record_path(target).c_str());
  std::string log = log_path(target);
  ::unlink(log.c_str());
  for (int i = 1; i <= 4; ++i) {
    ::unlink((log + "." + std::to_string(i)).c_str());
  }
  std::lock_guard lock(_mutex);
  _records.erase(target);
}

size_t volume_manager::records() const {
  std::lock_guard lock(_mutex);
  return _records.size();
}

size_t volume_manager::rediscover() {
  DIR* d = ::opendir(_volumes_dir.c_str());
  if (d == nullptr) {
    return 0;
  }
  std::vector<std::string> files;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 4 && name.ends_with(".vol")) {
      files.push_back(_volumes_dir + "/" + name);
    }
  }
  ::closedir(d);
  size_t live = 0;
  for (const std::string& file : files) {
    std::ifstream f(file);
    record r;
    std::string line;
    while (std::getline(f, line)) {
      size_t eq = line.find('=');
      std::string key = line.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
      if (key == "volume_id") {
        r.volume_id = value;
      } else if (key == "target") {
        r.target = value;
      } else if (key == "source") {
        r.source = value;
      } else if (key == "fingerprint") {
        r.fingerprint = value;
      }
    }
    if (r.target.empty() || record_path(r.target) != file) {
      log_warn("csi_record_unreadable", {{"path", file}});
      ::unlink(file.c_str());
      continue;
    }
    std::optional<cli::mount_entry> m = cli::mount_at(r.target);
    if (!m || !m->is_ossuring()) {
      // Unmounted while the plugin was away (node reboot, a manual umount): nothing to keep.
      log_info("csi_volume_gone", {{"volume_id", r.volume_id}, {"target", r.target}});
      forget(r.target);
      continue;
    }
    bool alive = answers(r.target);
    live += alive ? 1 : 0;
    log_info("csi_volume_rediscovered", {{"volume_id", r.volume_id},
                                         {"target", r.target},
                                         {"source", r.source},
                                         {"state", alive ? "serving" : "dead"}});
    std::lock_guard lock(_mutex);
    _records[r.target] = r;
  }
  return live;
}

rpc_status volume_manager::publish(const publish_params& p) {
  if (p.volume_id.empty()) {
    return fail(rpc_code::invalid_argument, "volume_id is missing");
  }
  if (rpc_status s = check_path("target_path", p.target); !s.ok()) {
    return s;
  }
  result<mount_plan> plan = plan_mount(p, _log_dir);
  if (!plan.ok()) {
    return fail(rpc_code::invalid_argument, plan.err().message);
  }
  target_lock lock(*this, p.target);
  if (!lock.held()) {
    return fail(rpc_code::aborted, "an operation on target_path " + p.target +
                                       " is in progress (the mount is still starting)");
  }
  std::optional<record> known;
  {
    std::lock_guard g(_mutex);
    if (auto it = _records.find(p.target); it != _records.end()) {
      known = it->second;
    }
  }
  if (std::optional<cli::mount_entry> m = cli::mount_at(p.target)) {
    if (!m->is_ossuring()) {
      return fail(rpc_code::failed_precondition,
                  "target_path " + p.target + " is a " + m->fstype + " mount of " + m->source +
                      ", not one made by this plugin: unmount it first");
    }
    if (answers(p.target)) {
      if (known && known->fingerprint == plan->fingerprint) {
        return {};  // the same publish again: already done
      }
      if (!known && m->source == plan->source) {
        // Mounted by an earlier plugin whose record was lost: adopt it.
        save(record{p.volume_id, p.target, plan->source, plan->fingerprint});
        return {};
      }
      return fail(rpc_code::already_exists,
                  "target_path " + p.target + " already has " +
                      (known ? "volume " + known->volume_id : m->source) +
                      " published with other attributes, options or access mode: unpublish it "
                      "first");
    }
    // The daemon of an earlier mount is gone: detach the dead mount and mount afresh.
    log_warn("csi_dead_mount_replaced", {{"volume_id", p.volume_id}, {"target", p.target}});
    ::umount2(p.target.c_str(), MNT_DETACH);
  }
  return mount(p, *plan);
}

rpc_status volume_manager::mount(const publish_params& p, const mount_plan& plan) {
  std::string parent = p.target.substr(0, p.target.find_last_of('/'));
  if (!parent.empty()) {
    if (status s = cli::make_dirs(parent); !s.ok()) {
      return fail(rpc_code::internal, "cannot create " + parent + ": " + s.err().message);
    }
  }
  if (::mkdir(p.target.c_str(), 0750) != 0 && errno != EEXIST) {
    return fail(rpc_code::internal,
                "cannot create target_path " + p.target + ": " + std::strerror(errno));
  }
  log_info("csi_mount_starting", {{"volume_id", p.volume_id},
                                  {"target", p.target},
                                  {"source", plan.source},
                                  {"read_only", plan.read_only ? "true" : "false"}});
  // Named after the target, like the record: a publish again after a dead mount reuses it.
  std::string cgroup = _cfg.outlive_container ? sha256_hex(p.target).substr(0, 32) : "";
  result<launch_result> r = run_ossuring(_cfg.ossuring, plan.args, plan.credentials, cgroup);
  if (!r.ok()) {
    return fail(rpc_code::internal, r.err().message);
  }
  if (r->exit_code != 0) {
    std::string out = trim(r->output);
    log_warn("csi_mount_failed", {{"volume_id", p.volume_id},
                                  {"target", p.target},
                                  {"exit", std::to_string(r->exit_code)},
                                  {"output", out}});
    // ossuring's message names the cause (no such bucket, access denied, a bad option) and
    // the daemon's log; kubelet shows it in the pod's events.
    rpc_code code = rpc_code::internal;
    if (out.find("NoSuchBucket") != std::string::npos) {
      code = rpc_code::not_found;
    } else if (out.find("AccessDenied") != std::string::npos ||
               out.find("InvalidAccessKeyId") != std::string::npos ||
               out.find("SignatureDoesNotMatch") != std::string::npos) {
      code = rpc_code::permission_denied;
    }
    return fail(code, "ossuring mount of " + plan.source + " failed: " + out);
  }
  save(record{p.volume_id, p.target, plan.source, plan.fingerprint});
  log_info("csi_volume_published", {{"volume_id", p.volume_id}, {"target", p.target}});
  return {};
}

rpc_status volume_manager::unpublish(const std::string& volume_id, const std::string& target) {
  if (volume_id.empty()) {
    return fail(rpc_code::invalid_argument, "volume_id is missing");
  }
  if (rpc_status s = check_path("target_path", target); !s.ok()) {
    return s;
  }
  target_lock lock(*this, target);
  if (!lock.held()) {
    return fail(rpc_code::aborted, "an operation on target_path " + target + " is in progress");
  }
  bool known = false;
  {
    std::lock_guard g(_mutex);
    known = _records.count(target) != 0;
  }
  // The daemon of the mount, taken before it is unmounted: a clean unmount returns once it has
  // exited, its uploads and saved index written, so a pod deleted right after its last write
  // leaves that write in the bucket.
  unique_fd daemon = cli::daemon_pidfd(target);
  bool detached = false;
  // Stacked mounts (a publish repeated by hand) come off one at a time.
  for (int i = 0; i < 8; ++i) {
    std::optional<cli::mount_entry> m = cli::mount_at(target);
    if (!m) {
      break;
    }
    if (!m->is_ossuring() && !known) {
      return fail(rpc_code::failed_precondition,
                  "target_path " + target + " is a " + m->fstype + " mount of " + m->source +
                      ", not one made by this plugin: not unmounted");
    }
    if (::umount2(target.c_str(), 0) != 0) {
      int e = errno;
      // EBUSY: a process still has a file open (kubelet stops the pod's containers before
      // unpublishing, so this is a straggler): detach now, the daemon ends with the last user.
      if (e != EBUSY || ::umount2(target.c_str(), MNT_DETACH) != 0) {
        e = errno;
        if (e != EINVAL) {
          return fail(rpc_code::internal,
                      "cannot unmount target_path " + target + ": " + std::strerror(e));
        }
      }
      detached = detached || e == EBUSY;
    }
  }
  // Detached: the daemon serves the straggler's open files until they close, so no wait.
  if (daemon && !detached && !cli::wait_for_exit(daemon, daemon_exit_wait_ms)) {
    log_warn("csi_daemon_still_finishing",
             {{"target", target}, {"waited_ms", std::to_string(daemon_exit_wait_ms)}});
  }
  if (::rmdir(target.c_str()) != 0 && errno != ENOENT) {
    int e = errno;
    if (e != ENOTEMPTY) {
      return fail(rpc_code::internal,
                  "cannot remove target_path " + target + ": " + std::strerror(e));
    }
    log_warn("csi_target_not_empty", {{"target", target}});
  }
  forget(target);
  log_info("csi_volume_unpublished", {{"volume_id", volume_id}, {"target", target}});
  return {};
}

rpc_status volume_manager::usage(const std::string& volume_id, const std::string& path,
                                 volume_usage* out) {
  if (volume_id.empty()) {
    return fail(rpc_code::invalid_argument, "volume_id is missing");
  }
  if (rpc_status s = check_path("volume_path", path); !s.ok()) {
    return s;
  }
  std::optional<cli::mount_entry> m = cli::mount_at(path);
  if (!m || !m->is_ossuring()) {
    return fail(rpc_code::not_found, "volume_path " + path + " is not an ossuring mount");
  }
  struct statvfs sv {};
  if (::statvfs(path.c_str(), &sv) != 0) {
    int e = errno;
    if (e == ENOTCONN) {
      out->abnormal = true;
      out->condition =
          "the mount's daemon is gone (Transport endpoint is not connected): delete the pod so "
          "that kubelet publishes the volume again";
      return {};
    }
    return fail(rpc_code::internal, "statvfs " + path + ": " + std::strerror(e));
  }
  out->bytes_total = uint64_t(sv.f_blocks) * sv.f_frsize;
  out->bytes_available = uint64_t(sv.f_bavail) * sv.f_frsize;
  out->bytes_used = uint64_t(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
  out->inodes_total = sv.f_files;
  out->inodes_available = sv.f_favail;
  out->inodes_used = sv.f_files - sv.f_ffree;
  out->condition = "serving " + m->source;
  return {};
}

}  // namespace ossuring::csi
