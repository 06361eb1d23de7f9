// fs_context: what the parts of the file system share (fs/filesystem.hh owns one): the client,
// options, clock, counters, handle numbers, the background work, and the files being written.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <unordered_map>

#include "core/sync.hh"
#include "fs/data/staged_file.hh"
#include "fs/inode_table.hh"
#include "fs/types.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs {

struct fs_context {
  fs_context(oss::object_client& c, fs_options o, clock_fn now);

  oss::object_client& client;
  const fs_options opts;
  clock_fn clock;
  fs_counters counters;
  int64_t started_sec = static_cast<int64_t>(::time(nullptr));  // wall clock at construction
  // File and directory handles of both kinds, from one sequence (a restored daemon starts it
  // above the handles of the one it replaces).
  uint64_t next_fh = 1;
  bool closing = false;  // close() began: no new background work
  // Background work (GETs shared by opens, read-ahead, uploads after close, part streams);
  // filesystem::close() waits for it.
  task_group background;
  // Files being written, by inode (the writer's; metadata shows their sizes and names).
  std::unordered_map<uint64_t, std::shared_ptr<staged_file>> staged;

  fs_clock::time_point now() const { return clock(); }
  // The attributes the kernel sees for `a` under inode `ino` (a file being written shows the
  // size written so far).
  file_attr make_attr(uint64_t ino, const object_attrs& a) const;
  entry_reply make_entry(uint64_t ino, const object_attrs& a) const;
};

}  // namespace ossuring::fs
