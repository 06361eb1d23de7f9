// FUSE over io_uring entries: register, then serve and commit one request after another.
#include "fs/fuse/ring.hh"

#include <fcntl.h>
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/io.hh"
#include "core/log.hh"

namespace ossuring::fs {

namespace {

// One FUSE_IO_URING_CMD on the /dev/fuse fd. The SQE is 128 bytes: its command area (from byte
// 48) carries `req`; for REGISTER, addr/len name the entry's two iovecs.
// No abort source: ASYNC_CANCEL does not reach these commands (see fuse_uring.hh).
auto uring_cmd(int fd, abi::uring_cmd op, const iovec* iov, abi::uring_cmd_req req) {
  return make_op(
      [=](io_uring_sqe* s) {
        std::memset(reinterpret_cast<char*>(s) + 64, 0, 64);  // the second half of the slot
        io_uring_prep_rw(IORING_OP_URING_CMD, s, fd, iov, iov != nullptr ? 2 : 0, 0);
        s->cmd_op = static_cast<uint32_t>(op);
        std::memcpy(reinterpret_cast<char*>(s) + 48, &req, sizeof req);
      },
      {});
}

// The request in an entry's buffers, as a /dev/fuse read would have delivered it.
bool decode(const abi::uring_req_header& h, std::span<const std::byte> payload, fuse_request& req) {
  std::memcpy(&req.header, h.in_out, sizeof(fuse_in_header));
  const size_t body = h.ring_ent_in_out.payload_sz;
  // The opcode's fixed argument went to op_in and everything after it to the payload, so its
  // size is what the header's length leaves.
  if (req.header.len < sizeof(fuse_in_header) + body || body > payload.size()) {
    return false;
  }
  const size_t op = req.header.len - sizeof(fuse_in_header) - body;
  if (op > sizeof h.op_in) {
    return false;
  }
  req.raw.resize(req.header.len);
  std::memcpy(req.raw.data(), &req.header, sizeof(fuse_in_header));
  std::memcpy(req.raw.data() + sizeof(fuse_in_header), h.op_in, op);
  std::memcpy(req.raw.data() + sizeof(fuse_in_header) + op, payload.data(), body);
  return true;
}

}  // namespace

fuse_uring::fuse_uring(fuse_channel& ch, int fuse_fd, std::vector<uint16_t> queues,
                       unsigned per_queue, size_t payload_bytes, std::atomic<uint64_t>* count_into)
    : _ch(ch), _fd(::fcntl(fuse_fd, F_DUPFD_CLOEXEC, 0)), _count_into(count_into) {
  for (uint16_t q : queues) {
    for (unsigned i = 0; i < per_queue; ++i) {
      auto e = std::make_unique<entry>();
      e->payload.resize(payload_bytes);
      e->iov[0] = {&e->header, sizeof e->header};
      e->iov[1] = {e->payload.data(), e->payload.size()};
      e->qid = q;
      _entries.push_back(std::move(e));
    }
  }
}

fuse_uring::~fuse_uring() = default;

void fuse_uring::start() {
  for (auto& e : _entries) {
    _entries_gate.spawn(serve(*e));
  }
}

task<void> fuse_uring::serve(entry& e) {
  abi::uring_cmd_req req{};
  req.qid = e.qid;
  ++_live;
  auto registered = uring_cmd(_fd.get(), abi::uring_cmd::register_, e.iov, req);
  int rc = co_await registered;
  while (rc == 0) {
    ++_requests;
    if (_count_into != nullptr) {
      _count_into->fetch_add(1, std::memory_order_relaxed);
    }
    fuse_request r;
    fuse_reply reply;
    const uint64_t commit_id = e.header.ring_ent_in_out.commit_id;
    if (decode(e.header, e.payload, r)) {
      // The request's bytes are in `r` now: a READ writes its data straight into the payload.
      r.reply_space = e.payload;
      auto served = _ch.serve_for_reply(std::move(r));  // r's header stays readable
      reply = co_await std::move(served);
    }
    fuse_out_header out{};
    if (reply.sent() && reply.body.size() <= e.payload.size()) {
      out = reply.header;
      if (reply.body.data() != e.payload.data()) {
        // Replies encoded elsewhere (small: entries, attributes, errors).
        std::memmove(e.payload.data(), reply.body.data(), reply.body.size());
      }
      e.header.ring_ent_in_out.payload_sz = static_cast<uint32_t>(reply.body.size());
    } else {
      // Undecodable, or no reply from the handler: the kernel's request still needs an answer.
      log_warn("fuse_uring_bad_request", {{"opcode", std::to_string(r.header.opcode)},
                                          {"reply_bytes", std::to_string(reply.header.len)}});
      out.len = sizeof out;
      out.error = -EIO;
      out.unique = commit_id;
      e.header.ring_ent_in_out.payload_sz = 0;
    }
    std::memcpy(e.header.in_out, &out, sizeof out);
    req.commit_id = commit_id;
    auto committed = uring_cmd(_fd.get(), abi::uring_cmd::commit_and_fetch, nullptr, req);
    rc = co_await committed;
  }
  --_live;
  // ENOTCONN/ENODEV: the connection ended. Anything else says why the ring is unusable.
  if (rc != -ENOTCONN && rc != -ENODEV && rc != -ECANCELED) {
    log_warn("fuse_uring_entry_ended", {{"queue", std::to_string(e.qid)},
                                        {"errno", std::to_string(-rc)},
                                        {"error", std::strerror(-rc)}});
  }
}

}  // namespace ossuring::fs
