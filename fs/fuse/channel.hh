// fuse_channel: the kernel conversation on /dev/fuse through the reactor's io_uring.
//
// The channel reads requests (several reads in flight), answers INIT itself (negotiating async
// reads, parallel dirops, readdirplus, max_pages and passthrough when the kernel grants them),
// routes INTERRUPT to the abort_source of the request it names, and hands every other request to
// a dispatcher as a coroutine spawned into the channel's gate. Replies are written with one
// writev through the ring. `run()` returns when the kernel ends the connection (unmount, ENODEV)
// or `stop()` is called, after every handler has finished.
//
// One connection may be served by several channels, one per reactor, each on its own /dev/fuse
// fd cloned from the session's (fs/fuse/clones.hh). The kernel takes a reply only on the fd the
// request was read from, so a channel writes the replies to what it read; INIT comes before any
// clone exists; an INTERRUPT may be read on any fd and is routed to every channel.
#pragma once

#include <linux/fuse.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/abort.hh"
#include "core/gate.hh"
#include "core/result.hh"
#include "core/task.hh"

namespace ossuring::fs {

// What INIT settled.
struct fuse_session_params {
  uint32_t kernel_major = 0;
  uint32_t kernel_minor = 0;
  uint32_t minor = 0;         // the minor we speak
  uint64_t kernel_flags = 0;  // what the kernel offered (64-bit set)
  uint64_t flags = 0;         // what we accepted
  uint32_t max_write = 0;
  uint32_t max_readahead = 0;
  uint16_t max_pages = 0;
  bool passthrough = false;  // FUSE_PASSTHROUGH granted: backing ids can be opened
  bool readdirplus = false;
  bool no_open_support = false;  // an ENOSYS answer to OPEN makes the kernel stop sending OPEN
  bool over_io_uring = false;    // FUSE over io_uring accepted: ring entries may be registered
};

// What the file system asks of INIT.
struct fuse_init_wishes {
  bool passthrough = true;
  bool readdirplus = true;
  bool no_open = false;  // the "no-OPEN" design: reply ENOSYS to OPEN, keep the page cache
  bool writeback_cache = false;
  uint32_t max_write = 128 * 1024;
  uint16_t max_pages = 256;  // 1 MiB reads
  uint16_t max_background = 128;
  bool over_io_uring = false;  // accept FUSE over io_uring when offered (fs/fuse/ring.hh)
};

// One request as read from the kernel: the header and the opcode's argument bytes. The bytes
// are owned by the handler's frame for as long as it runs.
struct fuse_request {
  fuse_in_header header{};
  std::vector<std::byte> raw;     // the whole request as read (header included)
  abort_source* abort = nullptr;  // fires on FUSE_INTERRUPT for this request, or on stop()
  // Where the reply's data can be written in place: a FUSE over io_uring entry's payload buffer,
  // which the kernel reads the reply from and which is free while the request is served (its
  // bytes were copied into `raw`). Empty for requests read from /dev/fuse.
  std::span<std::byte> reply_space;

  std::span<const std::byte> args() const {
    return std::span<const std::byte>(raw).subspan(sizeof(fuse_in_header));
  }
};

// A READ's reply data, written by the handler and sent without another copy: in the request's
// reply space when that is large enough (nothing left to copy for the ring), else in a buffer of
// its own (not zero-filled: the handler overwrites what it sends).
class data_buffer {
 public:
  data_buffer(fuse_request& req, size_t size);
  std::span<std::byte> bytes() const noexcept { return _bytes; }

 private:
  friend class fuse_channel;
  std::unique_ptr<std::byte[]> _owned;
  std::span<std::byte> _bytes;
};

// A reply a recording channel kept for someone else to send: a clone's channel on its own fd,
// or a ring entry. Its bytes move with it and are never copied on the way.
struct fuse_reply {
  fuse_out_header header{};           // len 0: the handler sent no reply (FORGET)
  std::span<const std::byte> body;    // what follows the header
  std::vector<std::byte> encoded;     // holds `body` for an encoded reply (header included)
  std::unique_ptr<std::byte[]> data;  // holds `body` for a READ's own buffer; neither holds it
                                      // when the READ wrote into the request's reply space
  bool sent() const noexcept { return header.len != 0; }
};

class fuse_channel;

class fuse_dispatcher {
 public:
  virtual ~fuse_dispatcher() = default;
  virtual void on_init(const fuse_session_params&) {}
  // Handles one request and sends its reply (none for FORGET/BATCH_FORGET).
  virtual task<void> handle(fuse_channel& ch, fuse_request& req) = 0;
  virtual void on_destroy() {}
};

// Selects the recording constructor of fuse_channel.
struct record_replies_t {};
inline constexpr record_replies_t record_replies{};

class fuse_channel {
 public:
  fuse_channel(int fd, fuse_init_wishes wishes) : _fd(fd), _wishes(wishes) {}
  // A channel that records the reply instead of writing it, for a handler run on another reactor
  // than the channel that read the request (fs/fuse/clones.hh). Backing ids are registered
  // through `fd`: any fd of the connection will do.
  fuse_channel(int fd, record_replies_t) : _fd(fd), _recording(true) {}
  fuse_channel(const fuse_channel&) = delete;
  fuse_channel& operator=(const fuse_channel&) = delete;

  // A cloned channel joins a session whose INIT the first channel answered.
  void adopt(const fuse_session_params& p) {
    _params = p;
    _initialized = true;
  }
  // Called with an INTERRUPT's own unique and its target when the target is not in flight on
  // this channel: the owner hands it to the other channels of the connection (on their reactors).
  void set_interrupt_router(std::function<void(uint64_t unique, uint64_t target)> route) {
    _route_interrupt = std::move(route);
  }
  // On this channel's reactor: aborts `target` when it is in flight here; otherwise answers the
  // INTERRUPT with EAGAIN on this fd, which makes the kernel queue it again when the target was
  // read here but not yet seen by the loop (and fails harmlessly with ENOENT when it was not).
  void interrupt(uint64_t unique, uint64_t target);
  // Counts requests read into `c` (read from any thread) instead of the channel's own counter.
  void count_requests_into(std::atomic<uint64_t>* c) noexcept { _request_counter = c; }
  // The reply recorded by a recording channel (not sent() when there was none).
  fuse_reply take_recorded() { return std::move(_recorded); }

  // Serves until the kernel ends the connection or stop() is called. `readers` reads in flight.
  task<status> run(fuse_dispatcher& d, unsigned readers = 4);
  // Makes run() return: in-flight handlers are aborted and awaited.
  void stop();

  const fuse_session_params& params() const noexcept { return _params; }

  // Serves a request that arrived outside this channel's reads (a FUSE over io_uring entry)
  // and returns its reply: like a request read here it can be interrupted, and a handler that
  // throws is answered EIO. Not sent() for a request without a reply. Not ended by stop():
  // such requests keep coming until the connection ends, and are served in full.
  task<fuse_reply> serve_for_reply(fuse_request req);

  // Replies. `error` is a positive errno (0 for success); payload pieces follow the header.
  task<void> reply(uint64_t unique, int error, std::span<const iovec> payload = {});
  task<void> reply_error(uint64_t unique, int error) { return reply(unique, error, {}); }
  // Sends a reply already encoded with its fuse_out_header (fs/fuse/codec.hh encoders); a
  // recording channel keeps the vector itself.
  task<void> send_encoded(std::vector<std::byte> message);
  // A READ's reply: the header, then the first `n` bytes of `data`, in one writev; a recording
  // channel keeps the buffer itself (or, in the reply space, leaves the bytes where they are).
  task<void> reply_data(uint64_t unique, data_buffer data, size_t n);
  // Sends a reply another channel recorded (a clone relaying the home reactor's answer); a
  // recording channel (a clone's ring entry) takes it over whole, buffers and all.
  task<void> send(fuse_reply& r);
  template <typename T>
  task<void> reply_struct(uint64_t unique, const T& value) {
    // A coroutine, so `iov` lives in this frame until the write completed.
    iovec iov{const_cast<T*>(&value), sizeof(T)};
    co_await reply(unique, 0, std::span<const iovec>(&iov, 1));
  }

  // Tells the kernel to look every cached name up again (FUSE_NOTIFY_INC_EPOCH). Fails on
  // kernels before 6.16, which do not know the notification (EINVAL).
  task<status> notify_inc_epoch();
  // Makes the kernel queue again every request read on this connection and not answered
  // (FUSE_NOTIFY_RESEND), for a daemon restarted on the connection of one that died.
  status notify_resend();

  // Passthrough: registers `fd` as a backing file and returns its id (needs CAP_SYS_ADMIN and
  // a granted FUSE_PASSTHROUGH), and releases one.
  result<int> backing_open(int fd);
  void backing_close(int id);

  uint64_t requests_read() const noexcept {
    return _request_counter->load(std::memory_order_relaxed);
  }

 private:
  task<void> reader();
  task<void> serve(fuse_request req);
  // Runs the dispatcher on `req` with replies through `replier`: registered for INTERRUPT (and
  // stop() when `stoppable`), EIO when the handler throws.
  task<void> serve_with(fuse_channel& replier, fuse_request& req, bool stoppable);
  task<void> answer_init(const fuse_request& req);
  // Writes header and body pieces with one writev on the fd.
  task<void> write_reply(const fuse_out_header& h, std::span<const iovec> body);

  int _fd;
  fuse_init_wishes _wishes;
  fuse_session_params _params;
  fuse_dispatcher* _dispatcher = nullptr;
  gate _handlers;
  gate _readers;
  abort_source _stop;
  bool _stopping = false;
  bool _initialized = false;
  bool _recording = false;
  status _end;
  std::atomic<uint64_t> _requests{0};
  std::atomic<uint64_t>* _request_counter = &_requests;
  fuse_reply _recorded;
  std::function<void(uint64_t, uint64_t)> _route_interrupt;
  std::unordered_map<uint64_t, abort_source*> _in_flight;  // unique -> its abort source
};

}  // namespace ossuring::fs
