// fs_context: the shared state's constructor and the attributes every part hands the kernel.
#include "fs/detail/context.hh"

#include <sys/stat.h>

#include "fs/detail/fs_util.hh"

namespace ossuring::fs {

fs_context::fs_context(oss::object_client& c, fs_options o, clock_fn now)
    : client(c),
      opts(std::move(o)),
      clock(now ? std::move(now) : clock_fn([] { return fs_clock::now(); })) {}

file_attr fs_context::make_attr(uint64_t ino, const object_attrs& a) const {
  file_attr f;
  f.ino = ino;
  f.size = a.is_dir ? 4096 : a.size;
  if (!staged.empty() && !a.is_dir) {  // nothing to look up on read-only mounts
    if (auto s = staged.find(ino); s != staged.end()) {
      f.size = s->second->size;  // being written: what the writer wrote so far
    }
  }
  f.blocks = (f.size + 511) / 512;
  // A directory OSS knows only as a common prefix has no time of its own: it shows the time the
  // mount started, not 1970.
  f.mtime_sec = a.is_dir && a.mtime_sec == 0 ? started_sec : a.mtime_sec;
  // OSS times have whole seconds: the nanoseconds carry a hash of the ETag, so that a rewrite
  // within the same second still changes mtime (and the kernel drops its cached pages).
  f.mtime_nsec = a.is_dir ? 0 : static_cast<uint32_t>(detail::fnv1a64(a.etag) % 1000000000);
  f.mode = a.is_dir ? (S_IFDIR | (opts.dir_mode & ~opts.umask & 07777))
                    : (S_IFREG | (opts.file_mode & ~opts.umask & 07777));
  f.nlink = a.is_dir ? 2 : 1;
  f.uid = opts.uid;
  f.gid = opts.gid;
  return f;
}

entry_reply fs_context::make_entry(uint64_t ino, const object_attrs& a) const {
  return entry_reply{make_attr(ino, a), opts.entry_timeout, opts.attr_timeout};
}

}  // namespace ossuring::fs
