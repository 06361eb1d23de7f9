// The CSI Identity and Node services over gRPC (csi.proto), answering from a volume_manager.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "tools/csi/csi.grpc.pb.h"
#include "tools/csi/volumes.hh"

namespace ossuring::csi {

struct plugin_info {
  std::string driver_name;  // what the CSIDriver object and the PVs name
  std::string version;
  std::string node_id;
};

class identity_service final : public ::csi::v1::Identity::Service {
 public:
  identity_service(plugin_info info, const std::atomic<bool>& ready)
      : _info(std::move(info)), _ready(ready) {}

  grpc::Status GetPluginInfo(grpc::ServerContext*, const ::csi::v1::GetPluginInfoRequest*,
                             ::csi::v1::GetPluginInfoResponse* out) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext*,
                                     const ::csi::v1::GetPluginCapabilitiesRequest*,
                                     ::csi::v1::GetPluginCapabilitiesResponse* out) override;
  grpc::Status Probe(grpc::ServerContext*, const ::csi::v1::ProbeRequest*,
                     ::csi::v1::ProbeResponse* out) override;

 private:
  plugin_info _info;
  const std::atomic<bool>& _ready;
};

class node_service final : public ::csi::v1::Node::Service {
 public:
  node_service(plugin_info info, volume_manager& volumes)
      : _info(std::move(info)), _volumes(volumes) {}

  grpc::Status NodePublishVolume(grpc::ServerContext*,
                                 const ::csi::v1::NodePublishVolumeRequest* req,
                                 ::csi::v1::NodePublishVolumeResponse*) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext*,
                                   const ::csi::v1::NodeUnpublishVolumeRequest* req,
                                   ::csi::v1::NodeUnpublishVolumeResponse*) override;
  grpc::Status NodeGetVolumeStats(grpc::ServerContext*,
                                  const ::csi::v1::NodeGetVolumeStatsRequest* req,
                                  ::csi::v1::NodeGetVolumeStatsResponse* out) override;
  grpc::Status NodeGetCapabilities(grpc::ServerContext*,
                                   const ::csi::v1::NodeGetCapabilitiesRequest*,
                                   ::csi::v1::NodeGetCapabilitiesResponse* out) override;
  grpc::Status NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                           ::csi::v1::NodeGetInfoResponse* out) override;

 private:
  plugin_info _info;
  volume_manager& _volumes;
};

}  // namespace ossuring::csi
