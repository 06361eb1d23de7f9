// FUSE kernel ABI: Debian's <linux/fuse.h> (7.38) plus the 7.39..7.45 pieces ossuring needs
// (passthrough, the 7.40 INIT reply, backing ids, FUSE over io_uring), in namespace fs::abi.
//
// Layouts follow Linux's include/uapi/linux/fuse.h; every struct is size-checked below so a
// mistake fails the build instead of corrupting the kernel conversation.
#pragma once

#include <linux/fuse.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>

namespace ossuring::fs::abi {

// The protocol we speak; the kernel here answers 7.45, we negotiate down to what we implement.
inline constexpr uint32_t kernel_major = 7;
inline constexpr uint32_t kernel_minor = 45;
inline constexpr uint64_t root_id = FUSE_ROOT_ID;

// INIT flags. The 64-bit set is `flags | (uint64_t)flags2 << 32`, flags2 only with INIT_EXT.
inline constexpr uint64_t init_ext = 1ull << 30;
inline constexpr uint64_t init_passthrough = 1ull << 37;    // flags2 bit 5
inline constexpr uint64_t init_over_io_uring = 1ull << 41;  // flags2 bit 9
inline constexpr uint64_t init_no_export_support = 1ull << 38;
inline constexpr uint64_t init_request_timeout = 1ull << 42;

// Notifications (fuse_out_header.error, unique 0). INC_EPOCH (7.44, Linux 6.16): every dentry
// cached before it, found or negative, is looked up again at its next use.
inline constexpr int32_t notify_inc_epoch = 8;
// RESEND (7.40, Linux 6.9): every request read but not answered on the connection is queued
// again, its unique marked with bit 63 (a restarted daemon serves what the dead one read; the
// reply echoes the unique as read).
inline constexpr int32_t notify_resend = 7;

// OPEN reply flags.
inline constexpr uint32_t fopen_direct_io = 1u << 0;
inline constexpr uint32_t fopen_keep_cache = 1u << 1;
inline constexpr uint32_t fopen_cache_dir = 1u << 3;
inline constexpr uint32_t fopen_noflush = 1u << 5;
inline constexpr uint32_t fopen_passthrough = 1u << 7;

// fuse_init_out as of 7.40: unused[7] became max_stack_depth + unused[6]. Passthrough is only
// granted with max_stack_depth 1 or 2.
struct init_out {
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;
  uint16_t max_background;
  uint16_t congestion_threshold;
  uint32_t max_write;
  uint32_t time_gran;
  uint16_t max_pages;
  uint16_t map_alignment;
  uint32_t flags2;
  uint32_t max_stack_depth;
  uint32_t unused[6];
};
static_assert(sizeof(init_out) == 64);
static_assert(sizeof(init_out) == sizeof(fuse_init_out));
static_assert(offsetof(init_out, flags2) == offsetof(fuse_init_out, flags2));

// fuse_open_out with the 7.40 backing id (the old `padding`).
struct open_out {
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};
static_assert(sizeof(open_out) == sizeof(fuse_open_out));

struct backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
static_assert(sizeof(backing_map) == 16);

inline constexpr unsigned dev_ioc_magic = 229;
inline constexpr unsigned long dev_ioc_clone = _IOR(dev_ioc_magic, 0, uint32_t);
inline constexpr unsigned long dev_ioc_backing_open = _IOW(dev_ioc_magic, 1, backing_map);
inline constexpr unsigned long dev_ioc_backing_close = _IOW(dev_ioc_magic, 2, uint32_t);
static_assert(dev_ioc_clone == FUSE_DEV_IOC_CLONE);

// FUSE over io_uring (7.42+). Each ring entry has a 288-byte header buffer and a payload buffer;
// the SQE's 80-byte command area carries `uring_cmd_req`.
inline constexpr size_t uring_in_out_header_size = 128;
inline constexpr size_t uring_op_in_out_size = 128;

struct uring_ent_in_out {
  uint64_t flags;
  uint64_t commit_id;  // unique of the request, echoed back on commit
  uint32_t payload_sz;
  uint32_t padding;
  uint64_t reserved;
};
static_assert(sizeof(uring_ent_in_out) == 32);

struct uring_req_header {
  char in_out[uring_in_out_header_size];  // fuse_in_header in, fuse_out_header out
  char op_in[uring_op_in_out_size];       // per-opcode fixed-size argument
  uring_ent_in_out ring_ent_in_out;
};
static_assert(sizeof(uring_req_header) == 288);

enum class uring_cmd : uint32_t {
  invalid = 0,
  register_ = 1,
  commit_and_fetch = 2,
};

struct uring_cmd_req {
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};
static_assert(sizeof(uring_cmd_req) == 24);

// Opcodes newer than Debian's header that the kernel may send.
inline constexpr uint32_t op_statx = 52;
inline constexpr uint32_t op_copy_file_range_64 = 53;

static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(sizeof(fuse_attr) == 88);
static_assert(sizeof(fuse_entry_out) == 128);
static_assert(sizeof(fuse_attr_out) == 104);
static_assert(sizeof(fuse_dirent) == 24);
static_assert(sizeof(fuse_direntplus) == 152);
static_assert(sizeof(fuse_kstatfs) == 80);
static_assert(sizeof(fuse_read_in) == 40);

}  // namespace ossuring::fs::abi
