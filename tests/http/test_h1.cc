// Tests for the incremental HTTP/1.1 parsers and head writers (all in memory).
#include <doctest/doctest.h>

#include <string>

#include "http/h1_parser.hh"
#include "http/h1_writer.hh"

using namespace ossuring;
using namespace ossuring::http;

namespace {

// Feeds `data` in pieces of `step` bytes until the message completes; returns bytes consumed.
template <typename Parser>
result<size_t> feed_all(Parser& p, std::string_view data, size_t step) {
  size_t pos = 0;
  while (pos < data.size() && !p.complete()) {
    std::string_view piece = data.substr(pos, std::min(step, data.size() - pos));
    result<size_t> n = p.feed(piece);
    if (!n) {
      return std::move(n).err();
    }
    REQUIRE((*n > 0 || p.complete()));
    pos += *n;
  }
  return pos;
}

body_sink append_to(std::string& out) {
  return [&out](std::span<const char> b) -> status {
    out.append(b.data(), b.size());
    return {};
  };
}

}  // namespace

TEST_SUITE("h1 response parser") {
  TEST_CASE("content-length response parsed byte at a time delivers the body through the sink") {
    std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Oss-Request-Id: abc\r\n\r\nhello world";
    for (size_t step : {size_t{1}, size_t{3}, wire.size()}) {
      h1_response_parser p;
      p.start("GET");
      std::string body;
      p.set_body_sink(append_to(body));
      result<size_t> n = feed_all(p, wire, step);
      REQUIRE(n.ok());
      CHECK(*n == wire.size());
      CHECK(p.complete());
      CHECK(p.head().status == 200);
      CHECK(p.head().headers.get("x-oss-request-id") == "abc");
      CHECK(body == "hello world");
      CHECK(p.keep_alive());
      CHECK(p.body_kind() == h1_body_kind::length);
    }
  }

  TEST_CASE("feed stops after the head so a sink can be installed from the headers") {
    h1_response_parser p;
    p.start();
    std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    result<size_t> n = p.feed(wire);
    REQUIRE(n.ok());
    CHECK(p.head_complete());
    CHECK_FALSE(p.complete());
    CHECK(*n == wire.size() - 3);
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(p.feed(std::string_view(wire).substr(*n)).ok());
    CHECK(p.complete());
    CHECK(body == "abc");
  }

  TEST_CASE("chunked body with extensions and trailers parsed byte at a time") {
    std::string wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    h1_response_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    result<size_t> n = feed_all(p, wire, 1);
    REQUIRE(n.ok());
    CHECK(p.complete());
    CHECK(*n == wire.size());
    CHECK(body == "hello 0123456789");
    CHECK(p.body_bytes() == 16);
  }

  TEST_CASE("pipelined responses: leftover bytes belong to the next response") {
    std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"
        "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx";
    h1_response_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    result<size_t> n = feed_all(p, wire, wire.size());
    REQUIRE(n.ok());
    CHECK(body == "ab");
    p.start();
    body.clear();
    p.set_body_sink(append_to(body));
    REQUIRE(feed_all(p, std::string_view(wire).substr(*n), 1000).ok());
    CHECK(p.head().status == 404);
    CHECK(body == "x");
  }

  TEST_CASE("HEAD, 204 and 304 responses have no body whatever their headers say") {
    h1_response_parser p;
    p.start("HEAD");
    REQUIRE(p.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")).ok());
    CHECK(p.complete());
    CHECK(p.keep_alive());
    for (int code : {204, 304}) {
      p.start("GET");
      std::string wire = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 5\r\n\r\n";
      REQUIRE(p.feed(wire).ok());
      CHECK(p.complete());
      CHECK(p.head().status == code);
    }
  }

  TEST_CASE("Connection: close and HTTP/1.0 responses end keep-alive") {
    h1_response_parser p;
    p.start();
    REQUIRE(p.feed(std::string_view(
                       "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
                .ok());
    CHECK(p.complete());
    CHECK_FALSE(p.keep_alive());
    p.start();
    REQUIRE(p.feed(std::string_view("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")).ok());
    CHECK_FALSE(p.keep_alive());
    p.start();
    REQUIRE(p.feed(std::string_view(
                       "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"))
                .ok());
    CHECK(p.keep_alive());
  }

  TEST_CASE("a body without length is delimited by EOF and ends keep-alive") {
    h1_response_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(p.feed(std::string_view("HTTP/1.1 200 OK\r\n\r\n")).ok());
    REQUIRE(p.feed(std::string_view("some ")).ok());
    REQUIRE(p.feed(std::string_view("bytes")).ok());
    CHECK_FALSE(p.complete());
    REQUIRE(p.feed_eof().ok());
    CHECK(p.complete());
    CHECK(body == "some bytes");
    CHECK_FALSE(p.keep_alive());
    CHECK(p.body_kind() == h1_body_kind::until_eof);
  }

  TEST_CASE("EOF before Content-Length bytes is a truncated-body error") {
    h1_response_parser p;
    p.start();
    REQUIRE(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100).ok());
    status s = p.feed_eof();
    REQUIRE_FALSE(s.ok());
    CHECK(s.err().code == EPROTO);
    CHECK(s.err().message.find("truncated body") != std::string::npos);
    CHECK(s.err().message.find("3 of 10") != std::string::npos);
  }

  TEST_CASE("EOF inside a chunked body or before any response is an error") {
    h1_response_parser p;
    p.start();
    REQUIRE(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 100).ok());
    CHECK(p.body_bytes() == 2);
    CHECK_FALSE(p.feed_eof().ok());
    p.start();
    status s = p.feed_eof();
    REQUIRE_FALSE(s.ok());
    CHECK(s.err().code == ECONNRESET);
  }

  TEST_CASE("malformed input is rejected with a clear error") {
    const char* bad[] = {
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "SPDY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
    };
    for (const char* wire : bad) {
      CAPTURE(wire);
      h1_response_parser p;
      p.start();
      result<size_t> n = feed_all(p, wire, 1);
      REQUIRE_FALSE(n.ok());
      CHECK(n.err().code == EPROTO);
      CHECK(n.err().message.rfind("http/1.1: ", 0) == 0);
    }
  }

  TEST_CASE("identical repeated Content-Length values are accepted") {
    h1_response_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok", 1)
                .ok());
    CHECK(body == "ok");
  }

  TEST_CASE("a header flood is an error, not unbounded buffering") {
    h1_limits limits;
    limits.max_headers = 10;
    limits.max_head_bytes = 4096;
    h1_response_parser p(limits);
    p.start();
    std::string many = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 11; ++i) {
      many += "X-" + std::to_string(i) + ": v\r\n";
    }
    many += "\r\n";
    result<size_t> n = feed_all(p, many, 7);
    REQUIRE_FALSE(n.ok());
    CHECK(n.err().http_status == 431);

    p.start();
    std::string endless = "HTTP/1.1 200 OK\r\nX: " + std::string(10000, 'a');
    n = feed_all(p, endless, 100);
    REQUIRE_FALSE(n.ok());
    CHECK(n.err().message.find("exceeds 4096") != std::string::npos);
  }

  TEST_CASE("interim 100 Continue is skipped and reported") {
    h1_response_parser p;
    p.start();
    int interim = 0;
    p.set_on_interim([&](int s) { interim = s; });
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(
        feed_all(
            p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz", 1)
            .ok());
    CHECK(interim == 100);
    CHECK(p.head().status == 201);
    CHECK(body == "z");
  }

  TEST_CASE("a sink error aborts the parse") {
    h1_response_parser p;
    p.start();
    p.set_body_sink([](std::span<const char>) -> status { return make_error(ENOSPC, "full"); });
    result<size_t> n = feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab", 100);
    REQUIRE_FALSE(n.ok());
    CHECK(n.err().code == ENOSPC);
  }
}

TEST_SUITE("h1 request parser") {
  TEST_CASE("absolute-form target is normalised to origin-form plus authority") {
    h1_request_parser p;
    p.start();
    REQUIRE(
        feed_all(p, "GET http://bucket.host:8080/dir/key?x=1 HTTP/1.1\r\nHost: other\r\n\r\n", 1)
            .ok());
    CHECK(p.complete());
    CHECK(p.head().method == "GET");
    CHECK(p.head().target == "/dir/key?x=1");
    CHECK(p.head().authority == "bucket.host:8080");

    p.start();
    REQUIRE(feed_all(p, "GET http://bucket.host HTTP/1.1\r\n\r\n", 5).ok());
    CHECK(p.head().target == "/");
    p.start();
    REQUIRE(feed_all(p, "GET http://bucket.host?list-type=2 HTTP/1.1\r\n\r\n", 5).ok());
    CHECK(p.head().target == "/?list-type=2");
  }

  TEST_CASE("origin-form target takes its authority from Host; Host is required in HTTP/1.1") {
    h1_request_parser p;
    p.start();
    REQUIRE(feed_all(p, "HEAD /key HTTP/1.1\r\nHost: b.localhost\r\n\r\n", 1).ok());
    CHECK(p.head().target == "/key");
    CHECK(p.head().authority == "b.localhost");
    CHECK(p.keep_alive());
    p.start();
    result<size_t> n = feed_all(p, "GET /key HTTP/1.1\r\n\r\n", 1);
    REQUIRE_FALSE(n.ok());
    CHECK(n.err().http_status == 400);
  }

  TEST_CASE("request bodies by Content-Length and chunked, byte at a time") {
    h1_request_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(feed_all(p, "PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\ndata", 1).ok());
    CHECK(body == "data");
    p.start();
    body.clear();
    p.set_body_sink(append_to(body));
    REQUIRE(feed_all(p,
                     "PUT /k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                     1)
                .ok());
    CHECK(p.complete());
    CHECK(body == "abcde");
  }

  TEST_CASE("a request without framing headers has no body") {
    h1_request_parser p;
    p.start();
    result<size_t> n = p.feed(std::string_view("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET"));
    REQUIRE(n.ok());
    CHECK(p.complete());
    CHECK(*n == 27);
  }

  TEST_CASE("Expect: 100-continue is reported before the body arrives") {
    h1_request_parser p;
    p.start();
    REQUIRE(
        p
            .feed(std::string_view(
                "PUT /k HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
            .ok());
    CHECK(p.head_complete());
    CHECK_FALSE(p.complete());
    CHECK(p.expects_continue());
  }

  TEST_CASE("unsupported transfer codings are 501") {
    h1_request_parser p;
    p.start();
    result<size_t> n =
        p.feed(std::string_view("PUT /k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"));
    REQUIRE_FALSE(n.ok());
    CHECK(n.err().http_status == 501);
  }
}

TEST_SUITE("h1 writer") {
  TEST_CASE("request head round-trips through the request parser with authoritative framing") {
    request req;
    req.method = "PUT";
    req.target = "/obj?partNumber=1";
    req.authority = "bucket.oss.localhost";
    req.headers.add("Content-Length", "999");  // dropped: the framing argument wins
    req.headers.add("x-oss-meta-a", "b");
    std::string out;
    REQUIRE(write_request_head(out, req, body_framing::content_length(3)).ok());
    out += "xyz";
    h1_request_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(feed_all(p, out, 1).ok());
    CHECK(p.head().authority == "bucket.oss.localhost");
    CHECK(p.head().target == "/obj?partNumber=1");
    CHECK(p.head().headers.get("x-oss-meta-a") == "b");
    CHECK(p.head().headers.get("content-length") == "3");
    CHECK(body == "xyz");
  }

  TEST_CASE("header injection through CR/LF is refused and leaves the buffer unchanged") {
    request req{"GET", "/", "h"};
    req.headers.add("X-Evil", "a\r\nInjected: 1");
    std::string out = "keep";
    status s = write_request_head(out, req, body_framing::none());
    REQUIRE_FALSE(s.ok());
    CHECK(s.err().code == EINVAL);
    CHECK(out == "keep");
  }

  TEST_CASE("chunked response round-trips through the response parser") {
    header_list h;
    h.add("ETag", "\"x\"");
    std::string out;
    REQUIRE(write_response_head(out, 200, h, body_framing::chunked(), false).ok());
    write_chunk_header(out, 5);
    out += "hello";
    write_chunk_end(out);
    write_last_chunk(out);
    h1_response_parser p;
    p.start();
    std::string body;
    p.set_body_sink(append_to(body));
    REQUIRE(feed_all(p, out, 2).ok());
    CHECK(p.complete());
    CHECK(body == "hello");
    CHECK_FALSE(p.keep_alive());
    CHECK(p.head().headers.get("etag") == "\"x\"");
    CHECK(reason_phrase(404) == "Not Found");
  }
}
