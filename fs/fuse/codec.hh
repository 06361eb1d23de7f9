// fuse_codec: pure decoding of raw FUSE requests and encoding of replies; no I/O.
//
// `decode` takes any byte string (it is fuzzed) and either returns a typed request or an error;
// it never reads outside [data, data+len), and names are checked for their terminating NUL.
// Reply encoders append a complete message (fuse_out_header first) to a byte vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hh"
#include "fs/fuse/abi.hh"
#include "fs/types.hh"

namespace ossuring::fs::fuse {

struct header {
  uint32_t len = 0;
  uint32_t opcode = 0;
  uint64_t unique = 0;
  uint64_t nodeid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
};

namespace req {
struct init {
  uint32_t major, minor, max_readahead;
  uint64_t flags;  // flags | flags2 << 32 (flags2 only when FUSE_INIT_EXT is set)
};
struct destroy {};
struct lookup {
  std::string_view name;
};
struct forget {
  uint64_t nlookup;
};
struct batch_forget {
  // Entries are read with memcpy: the buffer may be unaligned.
  const uint8_t* items;
  uint32_t count;
  std::pair<uint64_t, uint64_t> at(uint32_t i) const;  // (nodeid, nlookup)
};
struct getattr {
  uint32_t flags;
  uint64_t fh;
};
struct open {
  uint32_t flags;
};
struct opendir {
  uint32_t flags;
};
struct read {
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
  uint32_t flags;
};
struct release {
  uint64_t fh;
  uint32_t flags;
};
struct releasedir {
  uint64_t fh;
};
struct readdir {
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
  bool plus;
};
struct flush {
  uint64_t fh;
};
struct statfs {};
struct getxattr {
  std::string_view name;
  uint32_t size;
};
struct listxattr {
  uint32_t size;
};
struct access {
  uint32_t mask;
};
struct interrupt {
  uint64_t unique;
};
// ---- writes (the file system answers EROFS on a read-only mount) ----
struct create {
  uint32_t flags;  // open(2) flags
  uint32_t mode;
  uint32_t umask;
  std::string_view name;
};
struct write {
  uint64_t fh;
  uint64_t offset;
  uint32_t write_flags;
  uint32_t flags;
  std::span<const std::byte> data;  // exactly the size the kernel sent
};
struct setattr {
  uint32_t valid;  // FATTR_* bits saying which fields below are set
  uint64_t fh;
  uint64_t size;
  uint32_t mode;
};
struct mkdir {
  uint32_t mode;
  uint32_t umask;
  std::string_view name;
};
struct unlink {
  std::string_view name;
};
struct rmdir {
  std::string_view name;
};
// RENAME and RENAME2 (flags 0 for the former).
struct rename {
  uint64_t newdir;
  uint32_t flags;  // RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT
  std::string_view oldname;
  std::string_view newname;
};
struct fsync {
  uint64_t fh;
  uint32_t fsync_flags;
};
// Writes OSS has no counterpart for: only the opcode is decoded, as the answer is a refusal.
struct mknod {};
struct link {};
struct symlink {};
struct setxattr {};
struct removexattr {};
struct fallocate {};
// Any other opcode: the adapter replies ENOSYS.
struct unsupported {};
}  // namespace req

// Every request type has its handler in fuse_ops (fs/fuse/adapter.hh): a type added here without
// one does not compile.
using request_body =
    std::variant<req::init, req::destroy, req::lookup, req::forget, req::batch_forget, req::getattr,
                 req::open, req::opendir, req::read, req::release, req::releasedir, req::readdir,
                 req::flush, req::statfs, req::getxattr, req::listxattr, req::access,
                 req::interrupt, req::create, req::write, req::setattr, req::mkdir, req::unlink,
                 req::rmdir, req::rename, req::fsync, req::mknod, req::link, req::symlink,
                 req::setxattr, req::removexattr, req::fallocate, req::unsupported>;

struct request {
  header h;
  request_body body;
};

// Views into `data`: the buffer must outlive the request. EINVAL on malformed input.
result<request> decode(const uint8_t* data, size_t len);

// ---- replies (each appends one whole message to `out`) ----
void encode_error(std::vector<std::byte>& out, uint64_t unique, int err);
void encode_entry(std::vector<std::byte>& out, uint64_t unique, const entry_reply& e);
// A negative entry (nodeid 0) lets the kernel cache "does not exist" for `timeout`.
void encode_negative_entry(std::vector<std::byte>& out, uint64_t unique,
                           std::chrono::nanoseconds timeout);
void encode_attr(std::vector<std::byte>& out, uint64_t unique, const attr_reply& a);
void encode_open(std::vector<std::byte>& out, uint64_t unique, uint64_t fh, uint32_t open_flags,
                 int32_t backing_id = 0);
// CREATE's reply: the new entry and its open file.
void encode_create(std::vector<std::byte>& out, uint64_t unique, const entry_reply& e, uint64_t fh,
                   uint32_t open_flags);
void encode_write(std::vector<std::byte>& out, uint64_t unique, uint32_t size);
void encode_statfs(std::vector<std::byte>& out, uint64_t unique, const fs_statfs& s);
// GETXATTR/LISTXATTR size rules: size 0 asks for the length; too small a size is ERANGE.
void encode_xattr(std::vector<std::byte>& out, uint64_t unique, std::string_view value,
                  uint32_t size);
void encode_xattr_list(std::vector<std::byte>& out, uint64_t unique,
                       const std::vector<std::string>& names, uint32_t size);
void encode_data(std::vector<std::byte>& out, uint64_t unique, std::span<const std::byte> data);
void encode_init(std::vector<std::byte>& out, uint64_t unique, const abi::init_out& init);
void encode_empty(std::vector<std::byte>& out, uint64_t unique);

void fill_attr(fuse_attr& out, const file_attr& a);

// Packs fuse_dirent / fuse_direntplus records (FUSE_DIRENT_ALIGN) into at most `size` bytes.
class dirent_packer {
 public:
  dirent_packer(std::vector<std::byte>& out, uint64_t unique, uint32_t size, bool plus);
  // False when the entry does not fit (nothing is written then).
  bool add(const dir_entry& e);
  void finish();  // sets the header length
  size_t entries() const { return _entries; }

 private:
  std::vector<std::byte>& _out;
  size_t _start;
  uint32_t _limit;
  bool _plus;
  size_t _entries = 0;
};

}  // namespace ossuring::fs::fuse
