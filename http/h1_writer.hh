// HTTP/1.1 message head serialisation into caller buffers; bodies are sent separately by the
// caller (directly from its own buffers), optionally framed with the chunk helpers below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hh"
#include "http/message.hh"

namespace ossuring::http {

// How the body that follows a head is delimited. The writer emits the matching Content-Length
// or Transfer-Encoding header and drops any such header from the message's own list, so the
// framing cannot disagree with what the caller sends.
struct body_framing {
  enum class kind { none, length, chunked };
  kind type = kind::none;
  uint64_t length = 0;

  static body_framing none() { return {}; }
  static body_framing content_length(uint64_t n) { return {kind::length, n}; }
  static body_framing chunked() { return {kind::chunked, 0}; }
};

// Appends "METHOD target HTTP/1.1", a Host line from req.authority (unless req.headers has one),
// the headers, the framing header and the empty line to `out`. req.body is ignored.
// Fails (EINVAL) on a CR, LF or NUL in any field, which would allow header injection.
status write_request_head(std::string& out, const request& req, body_framing framing);

// Appends "HTTP/1.1 status reason", the headers, the framing header and the empty line.
// For a response to HEAD pass the framing the GET would have had and send no body.
// `keep_alive == false` adds "Connection: close".
status write_response_head(std::string& out, int status, const header_list& headers,
                           body_framing framing, bool keep_alive = true);

// "100 Continue" interim response for a request that sent Expect: 100-continue.
void write_continue(std::string& out);

// Chunked framing: write_chunk_header(n), then n body bytes, then write_chunk_end(); finish
// the body with write_last_chunk().
void write_chunk_header(std::string& out, size_t n);
void write_chunk_end(std::string& out);
void write_last_chunk(std::string& out);

// The standard reason phrase for `status` ("OK", "Not Found", ...), "Unknown" otherwise.
std::string_view reason_phrase(int status);

}  // namespace ossuring::http
