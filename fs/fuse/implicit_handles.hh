// implicit_handles: noopen mode's file handles (fs/fuse/adapter.hh). The kernel that was told
// ENOSYS for OPEN sends READ with fh 0 and never RELEASE: the daemon opens one handle per inode
// at its first READ and releases it when the kernel forgets the inode.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "core/abort.hh"
#include "core/result.hh"
#include "core/task.hh"
#include "fs/filesystem.hh"

namespace ossuring::fs {

class implicit_handles {
 public:
  explicit implicit_handles(filesystem& fs) : _fs(fs) {}

  // The handle a READ of `ino` reads through: the inode's own, or one opened now (unpinned: it
  // lives until FORGET, far longer than the blob needs to). A handle whose object was rewritten
  // since (the kernel dropped its pages on the new mtime) is replaced.
  task<result<uint64_t>> get(uint64_t ino, abort_source* abort);
  // FORGET: the kernel forgets an inode only after dropping its page cache, so the handle (and
  // the blob it may hold) is not needed any more.
  void drop(uint64_t ino);

  size_t size() const noexcept { return _fh.size(); }

 private:
  filesystem& _fs;
  std::unordered_map<uint64_t, uint64_t> _fh;  // inode -> handle
};

}  // namespace ossuring::fs
