// In-process http::client over emu::handler (see emu_loopback.hh).
#include "tests/support/emu_loopback.hh"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace ossuring::test {

task<result<http::response>> emu_loopback::send(http::exchange& ex) {
  if (ex.abort && ex.abort->aborted()) {
    co_return make_error(ECANCELED, "loopback: cancelled");
  }
  http::request req = ex.req;
  if (ex.request_body) {
    // Drain the streamed body the way a connection would send it.
    req.body.clear();
    std::vector<char> buf(chunk_size);
    for (;;) {
      result<http::body_chunk> c = ex.request_body(buf);
      if (!c) {
        co_return std::move(c).err();
      }
      req.body.append(buf.data(), c->bytes);
      if (c->eof) {
        break;
      }
      if (c->deferred || c->bytes == 0) {
        co_return make_error(EPROTO, "loopback: request body source made no progress");
      }
    }
    if (req.body.size() != ex.request_body_length) {
      co_return make_error(EPROTO, "loopback: request body length differs from Content-Length");
    }
  }
  if (refuse > 0) {
    --refuse;
    co_return make_error(EAGAIN, "loopback: stream refused by the server");
  }
  ++_stats.requests;
  _stats.bytes_sent += req.body.size();
  log.push_back(req);

  emu::response er = _handler.handle(req);
  if (tamper) {
    tamper(er);
  }

  http::response out;
  out.status = er.status;
  out.headers = er.headers;
  if (er.head) {
    co_return out;
  }
  const emu::fault_action& fault = er.fault;
  if (fault.kind == emu::fault_kind::stall) {
    co_return make_error(ETIMEDOUT, "loopback: no body byte before the timeout (stall)");
  }
  uint64_t size = er.body_size();
  uint64_t limit = size;
  bool cut = false;
  if (fault.kind == emu::fault_kind::reset_after_bytes ||
      fault.kind == emu::fault_kind::truncate_body) {
    limit = std::min<uint64_t>(size, fault.bytes);
    cut = true;
  }
  std::vector<std::byte> chunk(chunk_size);
  uint64_t pos = 0;
  while (pos < limit) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), limit - pos));
    std::span<std::byte> piece(chunk.data(), n);
    if (er.stream) {
      size_t got = er.stream->read(pos, piece);
      if (got == 0) {
        co_return make_error(ECONNRESET, "loopback: body source failed");
      }
      piece = piece.first(got);
    } else {
      std::memcpy(piece.data(), er.body.data() + pos, n);
    }
    std::span<const char> bytes(reinterpret_cast<const char*>(piece.data()), piece.size());
    if (ex.response_body) {
      if (status s = ex.response_body(bytes); !s) {
        co_return std::move(s).err();
      }
    } else {
      out.body.append(bytes.data(), bytes.size());
    }
    _stats.bytes_received += piece.size();
    pos += piece.size();
  }
  if (cut && fault.kind == emu::fault_kind::reset_after_bytes) {
    co_return make_error(ECONNRESET, "loopback: connection reset by peer after " +
                                         std::to_string(pos) + " body bytes");
  }
  if (cut) {
    co_return make_error(EPROTO, "loopback: connection closed after " + std::to_string(pos) +
                                     " of " + std::to_string(size) + " body bytes");
  }
  uint64_t announced = 0;
  std::string_view cl = out.headers.get("content-length");
  if (std::from_chars(cl.data(), cl.data() + cl.size(), announced).ec == std::errc() &&
      announced > pos) {
    // A real connection would wait for bytes that never come, then see EOF.
    co_return make_error(EPROTO, "loopback: connection closed after " + std::to_string(pos) +
                                     " body bytes, Content-Length " + std::string(cl));
  }
  co_return out;
}

}  // namespace ossuring::test
