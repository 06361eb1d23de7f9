// implicit_handles: one file handle per inode for noopen mode's READs.
#include "fs/fuse/implicit_handles.hh"

#include <fcntl.h>

namespace ossuring::fs {

task<result<uint64_t>> implicit_handles::get(uint64_t ino, abort_source* abort) {
  if (auto it = _fh.find(ino); it != _fh.end()) {
    if (_fs.is_current(it->second)) {
      co_return it->second;
    }
    _fs.release(ino, it->second);
    _fh.erase(it);
  }
  result<open_reply> o = co_await _fs.open(ino, O_RDONLY, abort, false);
  if (!o.ok()) {
    co_return std::move(o).err();
  }
  if (auto again = _fh.find(ino); again != _fh.end()) {
    _fs.release(ino, o->fh);  // a concurrent READ opened it first
    co_return again->second;
  }
  _fh[ino] = o->fh;
  co_return o->fh;
}

void implicit_handles::drop(uint64_t ino) {
  if (auto it = _fh.find(ino); it != _fh.end()) {
    _fs.release(ino, it->second);
    _fh.erase(it);
  }
}

}  // namespace ossuring::fs
