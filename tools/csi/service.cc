// The CSI Identity and Node services: requests to volume_manager calls, results to gRPC status
// codes (service.hh). Secrets are copied into the publish parameters and nowhere else: no log
// line or error message names a secret's value.
#include "tools/csi/service.hh"

#include <chrono>

#include "core/log.hh"

namespace ossuring::csi {
namespace {

using ::csi::v1::VolumeCapability;

grpc::Status to_grpc(const rpc_status& s) {
  return s.ok() ? grpc::Status::OK : grpc::Status(static_cast<grpc::StatusCode>(s.code), s.message);
}

// One line per call, with the result: what an operator reads to follow kubelet's calls.
grpc::Status logged(std::string_view call, const std::string& volume_id, const std::string& target,
                    std::chrono::steady_clock::time_point start, const rpc_status& s) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  log_write(s.ok() ? log_level::info : log_level::warn, call,
            {{"volume_id", volume_id},
             {"target", target},
             {"code", std::to_string(static_cast<int>(s.code))},
             {"ms", std::to_string(ms)},
             {"message", s.message}});
  return to_grpc(s);
}

bool reader_only(VolumeCapability::AccessMode::Mode m) {
  return m == VolumeCapability::AccessMode::SINGLE_NODE_READER_ONLY ||
         m == VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
}

}  // namespace

grpc::Status identity_service::GetPluginInfo(grpc::ServerContext*,
                                             const ::csi::v1::GetPluginInfoRequest*,
                                             ::csi::v1::GetPluginInfoResponse* out) {
  out->set_name(_info.driver_name);
  out->set_vendor_version(_info.version);
  return grpc::Status::OK;
}

grpc::Status identity_service::GetPluginCapabilities(grpc::ServerContext*,
                                                     const ::csi::v1::GetPluginCapabilitiesRequest*,
                                                     ::csi::v1::GetPluginCapabilitiesResponse*) {
  // Node service only: static provisioning needs no controller (no CreateVolume, no attach),
  // so CONTROLLER_SERVICE is not advertised and the CSIDriver says attachRequired: false.
  return grpc::Status::OK;
}

grpc::Status identity_service::Probe(grpc::ServerContext*, const ::csi::v1::ProbeRequest*,
                                     ::csi::v1::ProbeResponse* out) {
  out->mutable_ready()->set_value(_ready.load());
  return grpc::Status::OK;
}

grpc::Status node_service::NodePublishVolume(grpc::ServerContext*,
                                             const ::csi::v1::NodePublishVolumeRequest* req,
                                             ::csi::v1::NodePublishVolumeResponse*) {
  auto start = std::chrono::steady_clock::now();
  auto done = [&](const rpc_status& s) {
    return logged("NodePublishVolume", req->volume_id(), req->target_path(), start, s);
  };
  if (!req->has_volume_capability()) {
    return done({rpc_code::invalid_argument, "volume_capability is missing"});
  }
  const VolumeCapability& cap = req->volume_capability();
  if (cap.has_block()) {
    return done({rpc_code::invalid_argument,
                 "block access is not supported: an OSS bucket is a file system volume "
                 "(volumeMode: Filesystem)"});
  }
  if (!cap.has_access_mode() || cap.access_mode().mode() == VolumeCapability::AccessMode::UNKNOWN) {
    return done({rpc_code::invalid_argument, "volume_capability.access_mode is missing"});
  }
  publish_params p;
  p.volume_id = req->volume_id();
  p.target = req->target_path();
  p.context.insert(req->volume_context().begin(), req->volume_context().end());
  p.secrets.insert(req->secrets().begin(), req->secrets().end());
  if (cap.has_mount()) {
    p.mount_flags.assign(cap.mount().mount_flags().begin(), cap.mount().mount_flags().end());
  }
  p.readonly = req->readonly();
  p.reader_only_mode = reader_only(cap.access_mode().mode());
  return done(_volumes.publish(p));
}

grpc::Status node_service::NodeUnpublishVolume(grpc::ServerContext*,
                                               const ::csi::v1::NodeUnpublishVolumeRequest* req,
                                               ::csi::v1::NodeUnpublishVolumeResponse*) {
  auto start = std::chrono::steady_clock::now();
  rpc_status s = _volumes.unpublish(req->volume_id(), req->target_path());
  return logged("NodeUnpublishVolume", req->volume_id(), req->target_path(), start, s);
}

grpc::Status node_service::NodeGetVolumeStats(grpc::ServerContext*,
                                              const ::csi::v1::NodeGetVolumeStatsRequest* req,
                                              ::csi::v1::NodeGetVolumeStatsResponse* out) {
  volume_usage u;
  rpc_status s = _volumes.usage(req->volume_id(), req->volume_path(), &u);
  if (!s.ok()) {
    return to_grpc(s);
  }
  if (!u.abnormal) {
    auto* bytes = out->add_usage();
    bytes->set_unit(::csi::v1::VolumeUsage::BYTES);
    bytes->set_total(static_cast<int64_t>(u.bytes_total));
    bytes->set_available(static_cast<int64_t>(u.bytes_available));
    bytes->set_used(static_cast<int64_t>(u.bytes_used));
    auto* inodes = out->add_usage();
    inodes->set_unit(::csi::v1::VolumeUsage::INODES);
    inodes->set_total(static_cast<int64_t>(u.inodes_total));
    inodes->set_available(static_cast<int64_t>(u.inodes_available));
    inodes->set_used(static_cast<int64_t>(u.inodes_used));
  }
  out->mutable_volume_condition()->set_abnormal(u.abnormal);
  out->mutable_volume_condition()->set_message(u.condition);
  return grpc::Status::OK;
}

grpc::Status node_service::NodeGetCapabilities(grpc::ServerContext*,
                                               const ::csi::v1::NodeGetCapabilitiesRequest*,
                                               ::csi::v1::NodeGetCapabilitiesResponse* out) {
  // No STAGE_UNSTAGE_VOLUME: every publish is its own mount (a FUSE daemon per pod volume), so
  // kubelet calls NodePublishVolume directly.
  for (auto type : {::csi::v1::NodeServiceCapability::RPC::GET_VOLUME_STATS,
                    ::csi::v1::NodeServiceCapability::RPC::VOLUME_CONDITION}) {
    out->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status node_service::NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                                       ::csi::v1::NodeGetInfoResponse* out) {
  out->set_node_id(_info.node_id);
  return grpc::Status::OK;
}

}  // namespace ossuring::csi
