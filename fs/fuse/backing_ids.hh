// backing_ids: passthrough's backing files as the kernel knows them, one id per inode, shared by
// that inode's open files (fs/fuse/adapter.hh, open mode passthrough).
//
// The kernel allows one backing file per inode: a second, different one for an inode that
// already has one is refused (EIO at open or read). So the id registered at an inode's first
// open is shared by its later opens of the same blob and closed at its last RELEASE, not
// earlier: the opener looks the id up after the OPEN reply. An open of a newer blob while an
// older one is still open gets no id and is served by READs.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "fs/fuse/channel.hh"

namespace ossuring::fs {

class backing_ids {
 public:
  // The id to hand the kernel with the open `fh` of `ino`, whose whole object is in `fd` (which
  // stays open, pinned by the handle, while the id is in use); registered through `ch` at the
  // inode's first open. 0 when this open is served by READs.
  int acquire(fuse_channel& ch, uint64_t ino, uint64_t fh, int fd);
  // At the RELEASE of `fh`: the inode's id is closed through `ch` with its last open file.
  void release(fuse_channel& ch, uint64_t fh);

  size_t inodes() const noexcept { return _by_inode.size(); }

 private:
  struct inode_backing {
    int id = 0;
    int fd = -1;  // the blob the id names
    unsigned refs = 0;
  };
  std::unordered_map<uint64_t, inode_backing> _by_inode;
  std::unordered_map<uint64_t, uint64_t> _inode_of;  // file handle -> inode
};

}  // namespace ossuring::fs
