// systemd readiness (Type=notify): the NOTIFY_SOCKET datagram protocol, spoken directly.
#pragma once

#include <string_view>

#include "core/result.hh"

namespace ossuring::cli {

// Sends `state` (e.g. "READY=1\nSTATUS=...") as one datagram to `socket_path` (a file system
// path, or "@name" for an abstract socket). A null or empty path (not started by systemd with
// Type=notify) sends nothing and succeeds.
status sd_notify_send(const char* socket_path, std::string_view state);

}  // namespace ossuring::cli
