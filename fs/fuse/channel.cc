// fuse_channel: reading /dev/fuse through io_uring, INIT negotiation, INTERRUPT routing, replies.
#include "fs/fuse/channel.hh"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/io.hh"
#include "core/log.hh"
#include "fs/fuse/abi.hh"

namespace ossuring::fs {

namespace {

// Our reply speaks 7.40: the first minor with passthrough and max_stack_depth in INIT.
constexpr uint32_t our_minor = 40;

uint64_t combine(uint32_t lo, uint32_t hi) {
  return lo | (static_cast<uint64_t>(hi) << 32);
}

}  // namespace

data_buffer::data_buffer(fuse_request& req, size_t size) {
  if (req.reply_space.size() >= size) {
    _bytes = req.reply_space.first(size);
  } else {
    _owned = std::make_unique_for_overwrite<std::byte[]>(size);
    _bytes = std::span<std::byte>(_owned.get(), size);
  }
}

task<void> fuse_channel::write_reply(const fuse_out_header& h, std::span<const iovec> body) {
  iovec iov[8];
  iov[0] = {const_cast<fuse_out_header*>(&h), sizeof h};
  size_t n = 1;
  for (const iovec& p : body) {
    if (n == std::size(iov)) {
      break;
    }
    iov[n++] = p;
  }
  int rc = co_await make_op([&](io_uring_sqe* s) {
    io_uring_prep_writev(s, _fd, iov, static_cast<unsigned>(n), static_cast<uint64_t>(-1));
  });
  if (rc < 0 && rc != -ENOENT) {
    // ENOENT: the request was interrupted and the kernel forgot it; nothing to do.
    log_warn("fuse_reply_failed", {{"unique", std::to_string(h.unique)},
                                   {"bytes", std::to_string(h.len)},
                                   {"errno", std::to_string(-rc)},
                                   {"error", std::strerror(-rc)}});
  }
}

task<void> fuse_channel::reply(uint64_t unique, int error, std::span<const iovec> payload) {
  fuse_out_header out{};
  out.unique = unique;
  out.error = -error;
  size_t len = sizeof(out);
  // At most seven pieces follow the header (write_reply's limit).
  if (error != 0 || payload.size() > 7) {
    payload = payload.first(error != 0 ? 0 : 7);
  }
  for (const iovec& p : payload) {
    len += p.iov_len;
  }
  out.len = static_cast<uint32_t>(len);
  if (_recording) {
    // Small fixed replies (INIT, errors, structs): copied once into the record.
    _recorded = fuse_reply{};
    _recorded.header = out;
    _recorded.encoded.resize(len);
    std::memcpy(_recorded.encoded.data(), &out, sizeof out);
    size_t at = sizeof out;
    for (const iovec& p : payload) {
      std::memcpy(_recorded.encoded.data() + at, p.iov_base, p.iov_len);
      at += p.iov_len;
    }
    _recorded.body = std::span<const std::byte>(_recorded.encoded).subspan(sizeof out);
    co_return;
  }
  co_await write_reply(out, payload);
}

task<void> fuse_channel::send_encoded(std::vector<std::byte> message) {
  if (message.size() < sizeof(fuse_out_header)) {
    co_return;  // not a message (the encoders always write a header)
  }
  fuse_out_header h;
  std::memcpy(&h, message.data(), sizeof h);
  if (_recording) {
    _recorded = fuse_reply{};
    _recorded.header = h;
    _recorded.encoded = std::move(message);
    _recorded.body = std::span<const std::byte>(_recorded.encoded).subspan(sizeof h);
    co_return;
  }
  iovec body{message.data() + sizeof h, message.size() - sizeof h};
  co_await write_reply(h, std::span<const iovec>(&body, 1));
}

task<void> fuse_channel::reply_data(uint64_t unique, data_buffer data, size_t n) {
  fuse_out_header h{};
  h.unique = unique;
  n = std::min(n, data._bytes.size());
  h.len = static_cast<uint32_t>(sizeof h + n);
  if (_recording) {
    _recorded = fuse_reply{};
    _recorded.header = h;
    _recorded.body = data._bytes.first(n);
    _recorded.data = std::move(data._owned);
    co_return;
  }
  iovec body{data._bytes.data(), n};
  co_await write_reply(h, std::span<const iovec>(&body, 1));
}

task<void> fuse_channel::send(fuse_reply& r) {
  if (!r.sent()) {
    co_return;
  }
  if (_recording) {
    _recorded = std::move(r);  // `body` may point into `encoded`: a moved vector keeps its bytes
    co_return;
  }
  iovec body{const_cast<std::byte*>(r.body.data()), r.body.size()};
  co_await write_reply(r.header, std::span<const iovec>(&body, r.body.empty() ? 0 : 1));
}

task<status> fuse_channel::notify_inc_epoch() {
  fuse_out_header out{};
  out.len = sizeof(out);
  out.error = abi::notify_inc_epoch;
  out.unique = 0;
  int rc = co_await ossuring::write(_fd, &out, sizeof(out));
  if (rc < 0) {
    co_return make_error(-rc, std::string("FUSE_NOTIFY_INC_EPOCH: ") + std::strerror(-rc));
  }
  co_return status{};
}

status fuse_channel::notify_resend() {
  fuse_out_header out{};
  out.len = sizeof(out);
  out.error = abi::notify_resend;
  // Before the channel serves: a plain write (a notification is taken whole or refused).
  if (::write(_fd, &out, sizeof(out)) != static_cast<ssize_t>(sizeof(out))) {
    return make_error(errno, std::string("FUSE_NOTIFY_RESEND: ") + std::strerror(errno));
  }
  return {};
}

task<void> fuse_channel::answer_init(const fuse_request& req) {
  fuse_init_in in{};
  std::span<const std::byte> a = req.args();
  std::memcpy(&in, a.data(), std::min(a.size(), sizeof(in)));
  _params.kernel_major = in.major;
  _params.kernel_minor = in.minor;
  uint64_t offered = in.flags;
  if (in.flags & FUSE_INIT_EXT) {
    offered = combine(in.flags, in.flags2);
  }
  _params.kernel_flags = offered;
  abi::init_out out{};
  out.major = FUSE_KERNEL_VERSION;
  out.minor = our_minor;
  if (in.major != FUSE_KERNEL_VERSION || in.minor < 31) {
    // Too old (or a different major): answer with our version and let the kernel decide.
    log_error("fuse_init_unsupported",
              {{"kernel", std::to_string(in.major) + "." + std::to_string(in.minor)}});
    iovec iov{&out, sizeof(out)};
    co_await reply(req.header.unique, 0, std::span<const iovec>(&iov, 1));
    co_return;
  }
  uint64_t want = FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_BIG_WRITES |
                  FUSE_ATOMIC_O_TRUNC | FUSE_INIT_EXT | FUSE_ASYNC_DIO | FUSE_NO_OPENDIR_SUPPORT;
  if (_wishes.readdirplus) {
    want |= FUSE_DO_READDIRPLUS;
  }
  if (_wishes.no_open) {
    want |= FUSE_NO_OPEN_SUPPORT;
  }
  // The kernel drops an inode's cached pages when its mtime or size changes: a lazy-mode inode
  // whose object was rewritten (the file system folds the ETag into mtime's nanoseconds) never
  // serves stale pages from a kept page cache (noopen mode, FOPEN_KEEP_CACHE).
  want |= FUSE_AUTO_INVAL_DATA;
  if (_wishes.writeback_cache) {
    want |= FUSE_WRITEBACK_CACHE;
  } else if (_wishes.passthrough) {
    want |= abi::init_passthrough;  // passthrough excludes the writeback cache
  }
  if (_wishes.over_io_uring) {
    want |= abi::init_over_io_uring;  // offered only with fuse.enable_uring=Y
  }
  uint64_t accepted = want & offered;
  _params.flags = accepted;
  _params.over_io_uring = (accepted & abi::init_over_io_uring) != 0;
  _params.minor = our_minor;
  _params.passthrough = (accepted & abi::init_passthrough) != 0;
  _params.readdirplus = (accepted & FUSE_DO_READDIRPLUS) != 0;
  _params.no_open_support = (accepted & FUSE_NO_OPEN_SUPPORT) != 0;
  _params.max_write = _wishes.max_write;
  _params.max_pages = (accepted & FUSE_MAX_PAGES) ? _wishes.max_pages : 32;
  _params.max_readahead = in.max_readahead;

  out.max_readahead = in.max_readahead;
  out.flags = static_cast<uint32_t>(accepted);
  out.flags2 = static_cast<uint32_t>(accepted >> 32);
  out.max_background = _wishes.max_background;
  out.congestion_threshold = static_cast<uint16_t>(_wishes.max_background * 3 / 4);
  out.max_write = _wishes.max_write;
  out.time_gran = 1;
  out.max_pages = _params.max_pages;
  // Passthrough is granted only for a stacking depth of 1 or 2 (fuse-kernel.md).
  out.max_stack_depth = _params.passthrough ? 1 : 0;
  _initialized = true;
  if (_dispatcher) {
    _dispatcher->on_init(_params);
  }
  log_info("fuse_init", {{"kernel", std::to_string(in.major) + "." + std::to_string(in.minor)},
                         {"passthrough", _params.passthrough ? "yes" : "no"},
                         {"readdirplus", _params.readdirplus ? "yes" : "no"},
                         {"no_open", _params.no_open_support ? "yes" : "no"},
                         {"io_uring", _params.over_io_uring ? "yes" : "no"}});
  iovec iov{&out, sizeof(out)};
  co_await reply(req.header.unique, 0, std::span<const iovec>(&iov, 1));
}

task<void> fuse_channel::serve_with(fuse_channel& replier, fuse_request& req, bool stoppable) {
  abort_source abort;
  req.abort = &abort;
  abort_subscription on_stop;
  if (stoppable) {
    on_stop.subscribe(&_stop, [&abort] { abort.request_abort(); });
  }
  const uint64_t unique = req.header.unique;
  _in_flight[unique] = &abort;
  bool failed = false;
  try {
    co_await _dispatcher->handle(replier, req);
  } catch (const std::exception& e) {
    failed = true;
    log_error("fuse_handler_failed",
              {{"opcode", std::to_string(req.header.opcode)}, {"what", e.what()}});
  }
  if (failed && req.header.opcode != FUSE_FORGET && req.header.opcode != FUSE_BATCH_FORGET) {
    co_await replier.reply_error(unique, EIO);
  }
  _in_flight.erase(unique);
}

task<void> fuse_channel::serve(fuse_request req) {
  co_await serve_with(*this, req, true);
}

task<fuse_reply> fuse_channel::serve_for_reply(fuse_request req) {
  fuse_channel recorder(_fd, record_replies);
  recorder.adopt(_params);
  co_await serve_with(recorder, req, false);
  co_return recorder.take_recorded();
}

task<void> fuse_channel::reader() {
  // The kernel refuses reads shorter than max_write plus the largest request header.
  const size_t bufsize = std::max<size_t>(_wishes.max_write + 4096, 64 * 1024);
  std::vector<std::byte> buf(bufsize);
  while (!_stopping) {
    int n = co_await read(_fd, buf.data(), static_cast<unsigned>(buf.size()),
                          static_cast<uint64_t>(-1), {.abort = &_stop});
    if (n == -EINTR || n == -EAGAIN || n == -ENOENT) {
      continue;  // ENOENT: the request was interrupted before we read it
    }
    if (n == -ECANCELED && _stopping) {
      break;
    }
    if (n < 0) {
      if (n != -ENODEV) {
        _end = make_error(-n, std::string("read /dev/fuse: ") + std::strerror(-n));
      }
      // ENODEV: the file system was unmounted. Either way the conversation is over.
      if (!_stopping) {
        stop();
      }
      break;
    }
    if (static_cast<size_t>(n) < sizeof(fuse_in_header)) {
      log_warn("fuse_short_request", {{"bytes", std::to_string(n)}});
      continue;
    }
    _request_counter->fetch_add(1, std::memory_order_relaxed);
    fuse_request req;
    std::memcpy(&req.header, buf.data(), sizeof(fuse_in_header));
    req.raw.assign(buf.begin(), buf.begin() + n);
    switch (req.header.opcode) {
      case FUSE_INIT:
        co_await answer_init(req);
        continue;
      case FUSE_INTERRUPT: {
        fuse_interrupt_in in{};
        if (req.args().size() >= sizeof(in)) {
          std::memcpy(&in, req.args().data(), sizeof(in));
          if (auto it = _in_flight.find(in.unique); it != _in_flight.end()) {
            it->second->request_abort();
          } else if (_route_interrupt) {
            // Read here, but the target was read on another channel of the connection.
            _route_interrupt(req.header.unique, in.unique);
          }
        }
        continue;  // INTERRUPT itself gets no reply
      }
      case FUSE_DESTROY:
        if (_dispatcher) {
          _dispatcher->on_destroy();
        }
        co_await reply_error(req.header.unique, 0);
        stop();
        continue;
      default:
        break;
    }
    if (!_initialized) {
      co_await reply_error(req.header.unique, EIO);
      continue;
    }
    _handlers.spawn(serve(std::move(req)));
  }
}

task<status> fuse_channel::run(fuse_dispatcher& d, unsigned readers) {
  _dispatcher = &d;
  for (unsigned i = 0; i < std::max(1u, readers); ++i) {
    _readers.spawn(reader());
  }
  co_await _readers.close();
  co_await _handlers.close();
  co_return _end;
}

void fuse_channel::interrupt(uint64_t unique, uint64_t target) {
  if (auto it = _in_flight.find(target); it != _in_flight.end()) {
    it->second->request_abort();
    return;
  }
  if (!_stopping && !_handlers.closed()) {
    _handlers.spawn(reply_error(unique, EAGAIN));
  }
}

void fuse_channel::stop() {
  if (_stopping) {
    return;
  }
  _stopping = true;
  _stop.request_abort();
}

result<int> fuse_channel::backing_open(int fd) {
  abi::backing_map map{};
  map.fd = fd;
  int id = ::ioctl(_fd, abi::dev_ioc_backing_open, &map);
  if (id < 0) {
    int e = errno;
    return make_error(e, std::string("FUSE_DEV_IOC_BACKING_OPEN: ") + std::strerror(e));
  }
  return id;
}

void fuse_channel::backing_close(int id) {
  uint32_t v = static_cast<uint32_t>(id);
  if (::ioctl(_fd, abi::dev_ioc_backing_close, &v) != 0) {
    log_warn("fuse_backing_close_failed",
             {{"id", std::to_string(id)}, {"error", std::strerror(errno)}});
  }
}

}  // namespace ossuring::fs
