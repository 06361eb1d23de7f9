// emu_loopback: an http::client that answers each exchange in-process with emu::handler, so the
// OSS client is tested end to end without sockets. It carries out the emulator's faults the way a
// connection would look to a client: a reset after N body bytes is ECONNRESET, a truncated body
// or a Content-Length larger than the body is EPROTO after the bytes that did arrive, a stall is
// ETIMEDOUT. Latency, ttfb and bandwidth are ignored (no clock is involved).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "http/client.hh"
#include "tools/emu/handler.hh"

namespace ossuring::test {

class emu_loopback final : public http::client {
 public:
  explicit emu_loopback(emu::handler& h) : _handler(h) {}

  task<result<http::response>> send(http::exchange& ex) override;
  task<void> close() override { co_return; }
  http::client_stats stats() const override { return _stats; }
  std::string negotiated_protocol() const override { return "loopback"; }

  // Edits each emulator answer before it is delivered (tests: wrong CRC, Content-Range...).
  std::function<void(emu::response&)> tamper;
  // The next `refuse` exchanges fail as an HTTP/2 stream the server refused (EAGAIN, after the
  // body was read), without reaching the handler.
  unsigned refuse = 0;
  // Body bytes handed to the sink per call.
  size_t chunk_size = 16 * 1024;
  // Every request as the handler saw it (method, target, headers), in order.
  std::vector<http::request> log;

 private:
  emu::handler& _handler;
  http::client_stats _stats;
};

}  // namespace ossuring::test
