// backing_ids: one passthrough backing id per inode, counted by its open files.
#include "fs/fuse/backing_ids.hh"

#include "core/log.hh"

namespace ossuring::fs {

int backing_ids::acquire(fuse_channel& ch, uint64_t ino, uint64_t fh, int fd) {
  int id = 0;
  auto it = _by_inode.find(ino);
  if (it != _by_inode.end() && it->second.fd == fd) {
    ++it->second.refs;
    id = it->second.id;
  } else if (it == _by_inode.end()) {
    result<int> opened = ch.backing_open(fd);
    if (!opened.ok()) {
      log_warn("passthrough_open_failed", {{"error", opened.err().message}});
      return 0;
    }
    id = *opened;
    _by_inode[ino] = inode_backing{id, fd, 1};
  }
  // else: the object changed while an older copy is open; this open is served by READs.
  if (id != 0) {
    _inode_of[fh] = ino;
  }
  return id;
}

void backing_ids::release(fuse_channel& ch, uint64_t fh) {
  auto it = _inode_of.find(fh);
  if (it == _inode_of.end()) {
    return;
  }
  if (auto b = _by_inode.find(it->second); b != _by_inode.end() && --b->second.refs == 0) {
    ch.backing_close(b->second.id);
    _by_inode.erase(b);
  }
  _inode_of.erase(it);
}

}  // namespace ossuring::fs
