// fuse_codec: bounds-checked request decoding and reply encoding for the FUSE protocol.
#include "fs/fuse/codec.hh"

#include <dirent.h>

#include <cstring>

namespace ossuring::fs::fuse {

namespace {

error malformed(const char* why) {
  return make_error(EINVAL, std::string("fuse: ") + why);
}

// A cursor over the request body; every read checks the remaining length.
class reader {
 public:
  reader(const uint8_t* p, size_t n) : _p(p), _n(n) {}
  template <typename T>
  bool get(T& out) {
    if (_n < sizeof(T)) {
      return false;
    }
    std::memcpy(&out, _p, sizeof(T));
    _p += sizeof(T);
    _n -= sizeof(T);
    return true;
  }
  // A NUL-terminated, non-empty name.
  bool name(std::string_view& out) {
    const void* nul = std::memchr(_p, 0, _n);
    if (!nul) {
      return false;
    }
    size_t len = static_cast<const uint8_t*>(nul) - _p;
    if (len == 0) {
      return false;
    }
    out = std::string_view(reinterpret_cast<const char*>(_p), len);
    _p += len + 1;
    _n -= len + 1;
    return true;
  }
  const uint8_t* pos() const { return _p; }
  size_t left() const { return _n; }

 private:
  const uint8_t* _p;
  size_t _n;
};

void put_header(std::vector<std::byte>& out, size_t start, uint64_t unique, int32_t err) {
  fuse_out_header h{};
  h.len = static_cast<uint32_t>(out.size() - start);
  h.error = err;
  h.unique = unique;
  std::memcpy(out.data() + start, &h, sizeof h);
}

template <typename T>
void reply_struct(std::vector<std::byte>& out, uint64_t unique, const T& body) {
  size_t start = out.size();
  out.resize(start + sizeof(fuse_out_header) + sizeof(T));
  std::memcpy(out.data() + start + sizeof(fuse_out_header), &body, sizeof(T));
  put_header(out, start, unique, 0);
}

void split_timeout(std::chrono::nanoseconds t, uint64_t& sec, uint32_t& nsec) {
  if (t.count() < 0) {
    t = {};
  }
  sec = static_cast<uint64_t>(t.count() / 1000000000);
  nsec = static_cast<uint32_t>(t.count() % 1000000000);
}

fuse_entry_out make_entry_out(const entry_reply& e) {
  fuse_entry_out o{};
  o.nodeid = e.attr.ino;
  o.generation = 0;
  split_timeout(e.entry_timeout, o.entry_valid, o.entry_valid_nsec);
  split_timeout(e.attr_timeout, o.attr_valid, o.attr_valid_nsec);
  fill_attr(o.attr, e.attr);
  return o;
}

}  // namespace

std::pair<uint64_t, uint64_t> req::batch_forget::at(uint32_t i) const {
  fuse_forget_one one;
  std::memcpy(&one, items + size_t{i} * sizeof one, sizeof one);
  return {one.nodeid, one.nlookup};
}

result<request> decode(const uint8_t* data, size_t len) {
  fuse_in_header ih;
  if (!data || len < sizeof ih) {
    return malformed("short header");
  }
  std::memcpy(&ih, data, sizeof ih);
  if (ih.len < sizeof ih || ih.len > len) {
    return malformed("bad length");
  }
  size_t body_len = ih.len - sizeof ih;
  // Request extensions (security context, supplementary groups) trail the body.
  size_t ext = size_t{ih.total_extlen} * 8;
  if (ext > body_len) {
    return malformed("bad extension length");
  }
  body_len -= ext;
  reader r(data + sizeof ih, body_len);
  request out;
  out.h = header{ih.len, ih.opcode, ih.unique, ih.nodeid, ih.uid, ih.gid, ih.pid};
  switch (ih.opcode) {
    case FUSE_INIT: {
      fuse_init_in in{};
      // Old kernels send only the first four fields; flags2 exists with FUSE_INIT_EXT.
      if (r.left() < offsetof(fuse_init_in, flags2)) {
        return malformed("short INIT");
      }
      std::memcpy(&in, r.pos(), std::min(r.left(), sizeof in));
      uint64_t flags = in.flags;
      if ((in.flags & abi::init_ext) && r.left() >= offsetof(fuse_init_in, unused)) {
        flags |= uint64_t{in.flags2} << 32;
      }
      out.body = req::init{in.major, in.minor, in.max_readahead, flags};
      return out;
    }
    case FUSE_DESTROY:
      out.body = req::destroy{};
      return out;
    case FUSE_LOOKUP: {
      req::lookup l;
      if (!r.name(l.name)) {
        return malformed("bad name");
      }
      out.body = l;
      return out;
    }
    case FUSE_FORGET: {
      fuse_forget_in in;
      if (!r.get(in)) {
        return malformed("short FORGET");
      }
      out.body = req::forget{in.nlookup};
      return out;
    }
    case FUSE_BATCH_FORGET: {
      fuse_batch_forget_in in;
      if (!r.get(in)) {
        return malformed("short BATCH_FORGET");
      }
      if (in.count > r.left() / sizeof(fuse_forget_one)) {
        return malformed("BATCH_FORGET count exceeds body");
      }
      out.body = req::batch_forget{r.pos(), in.count};
      return out;
    }
    case FUSE_GETATTR: {
      fuse_getattr_in in;
      if (!r.get(in)) {
        return malformed("short GETATTR");
      }
      out.body = req::getattr{in.getattr_flags, in.fh};
      return out;
    }
    case FUSE_OPEN:
    case FUSE_OPENDIR: {
      fuse_open_in in;
      if (!r.get(in)) {
        return malformed("short OPEN");
      }
      if (ih.opcode == FUSE_OPEN) {
        out.body = req::open{in.flags};
      } else {
        out.body = req::opendir{in.flags};
      }
      return out;
    }
    case FUSE_READ:
    case FUSE_READDIR:
    case FUSE_READDIRPLUS: {
      fuse_read_in in;
      if (!r.get(in)) {
        return malformed("short READ");
      }
      if (ih.opcode == FUSE_READ) {
        out.body = req::read{in.fh, in.offset, in.size, in.flags};
      } else {
        out.body = req::readdir{in.fh, in.offset, in.size, ih.opcode == FUSE_READDIRPLUS};
      }
      return out;
    }
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR: {
      fuse_release_in in;
      if (!r.get(in)) {
        return malformed("short RELEASE");
      }
      if (ih.opcode == FUSE_RELEASE) {
        out.body = req::release{in.fh, in.flags};
      } else {
        out.body = req::releasedir{in.fh};
      }
      return out;
    }
    case FUSE_FLUSH: {
      fuse_flush_in in;
      if (!r.get(in)) {
        return malformed("short FLUSH");
      }
      out.body = req::flush{in.fh};
      return out;
    }
    case FUSE_STATFS:
      out.body = req::statfs{};
      return out;
    case FUSE_GETXATTR: {
      fuse_getxattr_in in;
      req::getxattr g;
      if (!r.get(in) || !r.name(g.name)) {
        return malformed("bad GETXATTR");
      }
      g.size = in.size;
      out.body = g;
      return out;
    }
    case FUSE_LISTXATTR: {
      fuse_getxattr_in in;
      if (!r.get(in)) {
        return malformed("short LISTXATTR");
      }
      out.body = req::listxattr{in.size};
      return out;
    }
    case FUSE_ACCESS: {
      fuse_access_in in;
      if (!r.get(in)) {
        return malformed("short ACCESS");
      }
      out.body = req::access{in.mask};
      return out;
    }
    case FUSE_INTERRUPT: {
      fuse_interrupt_in in;
      if (!r.get(in)) {
        return malformed("short INTERRUPT");
      }
      out.body = req::interrupt{in.unique};
      return out;
    }
    case FUSE_CREATE: {
      fuse_create_in in;
      req::create c;
      if (!r.get(in) || !r.name(c.name)) {
        return malformed("bad CREATE");
      }
      c.flags = in.flags;
      c.mode = in.mode;
      c.umask = in.umask;
      out.body = c;
      return out;
    }
    case FUSE_WRITE: {
      fuse_write_in in;
      if (!r.get(in)) {
        return malformed("short WRITE");
      }
      if (in.size > r.left()) {
        return malformed("WRITE data shorter than its size");
      }
      out.body = req::write{in.fh, in.offset, in.write_flags, in.flags,
                            std::span(reinterpret_cast<const std::byte*>(r.pos()), in.size)};
      return out;
    }
    case FUSE_SETATTR: {
      fuse_setattr_in in;
      if (!r.get(in)) {
        return malformed("short SETATTR");
      }
      out.body = req::setattr{in.valid, in.fh, in.size, in.mode};
      return out;
    }
    case FUSE_MKDIR: {
      fuse_mkdir_in in;
      req::mkdir m;
      if (!r.get(in) || !r.name(m.name)) {
        return malformed("bad MKDIR");
      }
      m.mode = in.mode;
      m.umask = in.umask;
      out.body = m;
      return out;
    }
    case FUSE_UNLINK:
    case FUSE_RMDIR: {
      std::string_view name;
      if (!r.name(name)) {
        return malformed("bad name");
      }
      if (ih.opcode == FUSE_UNLINK) {
        out.body = req::unlink{name};
      } else {
        out.body = req::rmdir{name};
      }
      return out;
    }
    case FUSE_RENAME:
    case FUSE_RENAME2: {
      req::rename rn{};
      if (ih.opcode == FUSE_RENAME) {
        fuse_rename_in in;
        if (!r.get(in)) {
          return malformed("short RENAME");
        }
        rn.newdir = in.newdir;
      } else {
        fuse_rename2_in in;
        if (!r.get(in)) {
          return malformed("short RENAME2");
        }
        rn.newdir = in.newdir;
        rn.flags = in.flags;
      }
      if (!r.name(rn.oldname) || !r.name(rn.newname)) {
        return malformed("bad RENAME names");
      }
      out.body = rn;
      return out;
    }
    case FUSE_FSYNC: {
      fuse_fsync_in in;
      if (!r.get(in)) {
        return malformed("short FSYNC");
      }
      out.body = req::fsync{in.fh, in.fsync_flags};
      return out;
    }
    case FUSE_MKNOD:
      out.body = req::mknod{};
      return out;
    case FUSE_LINK:
      out.body = req::link{};
      return out;
    case FUSE_SYMLINK:
      out.body = req::symlink{};
      return out;
    case FUSE_SETXATTR:
      out.body = req::setxattr{};
      return out;
    case FUSE_REMOVEXATTR:
      out.body = req::removexattr{};
      return out;
    case FUSE_FALLOCATE:
      out.body = req::fallocate{};
      return out;
    default:
      out.body = req::unsupported{};
      return out;
  }
}

void fill_attr(fuse_attr& o, const file_attr& a) {
  o = fuse_attr{};
  o.ino = a.ino;
  o.size = a.size;
  o.blocks = a.blocks;
  o.atime = o.mtime = o.ctime = static_cast<uint64_t>(a.mtime_sec);
  o.atimensec = o.mtimensec = o.ctimensec = a.mtime_nsec;
  o.mode = a.mode;
  o.nlink = a.nlink;
  o.uid = a.uid;
  o.gid = a.gid;
  o.blksize = a.blksize;
}

void encode_error(std::vector<std::byte>& out, uint64_t unique, int err) {
  size_t start = out.size();
  out.resize(start + sizeof(fuse_out_header));
  put_header(out, start, unique, -std::abs(err));
}

void encode_empty(std::vector<std::byte>& out, uint64_t unique) {
  size_t start = out.size();
  out.resize(start + sizeof(fuse_out_header));
  put_header(out, start, unique, 0);
}

void encode_entry(std::vector<std::byte>& out, uint64_t unique, const entry_reply& e) {
  reply_struct(out, unique, make_entry_out(e));
}

void encode_negative_entry(std::vector<std::byte>& out, uint64_t unique,
                           std::chrono::nanoseconds timeout) {
  fuse_entry_out o{};
  split_timeout(timeout, o.entry_valid, o.entry_valid_nsec);
  reply_struct(out, unique, o);
}

void encode_attr(std::vector<std::byte>& out, uint64_t unique, const attr_reply& a) {
  fuse_attr_out o{};
  split_timeout(a.attr_timeout, o.attr_valid, o.attr_valid_nsec);
  fill_attr(o.attr, a.attr);
  reply_struct(out, unique, o);
}

void encode_open(std::vector<std::byte>& out, uint64_t unique, uint64_t fh, uint32_t open_flags,
                 int32_t backing_id) {
  reply_struct(out, unique, abi::open_out{fh, open_flags, backing_id});
}

void encode_create(std::vector<std::byte>& out, uint64_t unique, const entry_reply& e, uint64_t fh,
                   uint32_t open_flags) {
  struct {
    fuse_entry_out entry;
    abi::open_out open;
  } body{make_entry_out(e), abi::open_out{fh, open_flags, 0}};
  static_assert(sizeof body == sizeof(fuse_entry_out) + sizeof(abi::open_out));
  reply_struct(out, unique, body);
}

void encode_write(std::vector<std::byte>& out, uint64_t unique, uint32_t size) {
  fuse_write_out o{};
  o.size = size;
  reply_struct(out, unique, o);
}

void encode_statfs(std::vector<std::byte>& out, uint64_t unique, const fs_statfs& s) {
  fuse_statfs_out o{};
  o.st.blocks = s.blocks;
  o.st.bfree = s.bfree;
  o.st.bavail = s.bavail;
  o.st.files = s.files;
  o.st.ffree = s.ffree;
  o.st.bsize = s.bsize;
  o.st.namelen = s.namelen;
  o.st.frsize = s.frsize;
  reply_struct(out, unique, o);
}

void encode_xattr(std::vector<std::byte>& out, uint64_t unique, std::string_view value,
                  uint32_t size) {
  if (size == 0) {
    fuse_getxattr_out o{};
    o.size = static_cast<uint32_t>(value.size());
    reply_struct(out, unique, o);
    return;
  }
  if (value.size() > size) {
    encode_error(out, unique, ERANGE);
    return;
  }
  encode_data(out, unique, std::as_bytes(std::span<const char>(value.data(), value.size())));
}

void encode_xattr_list(std::vector<std::byte>& out, uint64_t unique,
                       const std::vector<std::string>& names, uint32_t size) {
  std::string joined;
  for (const auto& n : names) {
    joined += n;
    joined += '\0';
  }
  encode_xattr(out, unique, joined, size);
}

void encode_data(std::vector<std::byte>& out, uint64_t unique, std::span<const std::byte> data) {
  size_t start = out.size();
  out.resize(start + sizeof(fuse_out_header) + data.size());
  if (!data.empty()) {
    std::memcpy(out.data() + start + sizeof(fuse_out_header), data.data(), data.size());
  }
  put_header(out, start, unique, 0);
}

void encode_init(std::vector<std::byte>& out, uint64_t unique, const abi::init_out& init) {
  reply_struct(out, unique, init);
}

dirent_packer::dirent_packer(std::vector<std::byte>& out, uint64_t unique, uint32_t size, bool plus)
    : _out(out), _start(out.size()), _limit(size), _plus(plus) {
  _out.resize(_start + sizeof(fuse_out_header));
  put_header(_out, _start, unique, 0);
}

bool dirent_packer::add(const dir_entry& e) {
  const size_t name_off = _plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
  const size_t rec = FUSE_DIRENT_ALIGN(name_off + e.name.size());
  size_t used = _out.size() - _start - sizeof(fuse_out_header);
  if (used + rec > _limit) {
    return false;
  }
  size_t at = _out.size();
  _out.resize(at + rec);  // zero-fills the alignment padding
  fuse_dirent d{};
  d.ino = e.ino;
  d.off = e.next_offset;
  d.namelen = static_cast<uint32_t>(e.name.size());
  d.type = e.is_dir ? DT_DIR : DT_REG;
  std::byte* p = _out.data() + at;
  if (_plus) {
    fuse_entry_out eo{};
    // "." and ".." carry no entry: the kernel does not count a lookup for them.
    if (e.name != "." && e.name != "..") {
      eo = make_entry_out(entry_reply{e.attr, e.entry_timeout, e.attr_timeout});
    }
    std::memcpy(p, &eo, sizeof eo);
    p += sizeof eo;
  }
  std::memcpy(p, &d, FUSE_NAME_OFFSET);
  std::memcpy(p + FUSE_NAME_OFFSET, e.name.data(), e.name.size());
  ++_entries;
  return true;
}

void dirent_packer::finish() {
  fuse_out_header h;
  std::memcpy(&h, _out.data() + _start, sizeof h);
  h.len = static_cast<uint32_t>(_out.size() - _start);
  std::memcpy(_out.data() + _start, &h, sizeof h);
}

}  // namespace ossuring::fs::fuse
