// What `ossuring mount` derives from its configuration before serving: file-system options,
// the blob store, the index file, the reactor CPUs and the open mode.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.hh"
#include "fs/cache/blob_store.hh"
#include "fs/filesystem.hh"
#include "fs/fuse/adapter.hh"
#include "tools/cli/config.hh"

namespace ossuring::cli {

fs::fs_options make_fs_options(const mount_config& cfg);
std::unique_ptr<fs::blob_store> make_blob_store(const mount_config& cfg);
// Where index mode saves and reuses its index ("" = nowhere).
std::string index_file(const mount_config& cfg);
// The reactor CPUs of --cpus (or resourceLimit) that this process may run on; a listed CPU
// outside the affinity mask (resourceLimit 4c on a 2-CPU machine) is dropped with a warning.
result<std::vector<int>> reactor_cpus(const std::string& list);
fs::open_mode parse_open_mode(const std::string& s);

}  // namespace ossuring::cli
