// oss_client under failure, against the emulator's fault injection (in-process loopback): 503
// storms with qos delays, resets and truncated bodies (never wrong bytes), idempotency, clock
// skew, cancellation and the rate limiter.
#include <doctest/doctest.h>

#include "fs/errors.hh"
#include "tests/oss/emu_fixture.hh"
#include "tools/emu/content.hh"

using namespace ossuring;
using namespace ossuring::test;
using std::chrono::milliseconds;

namespace {

constexpr uint64_t big_size = 3u << 20;

emu::fault_rule rule(emu::fault_kind kind, int64_t times = -1, uint64_t bytes = 0) {
  emu::fault_rule r;
  r.kind = kind;
  r.remaining = times;
  r.bytes = bytes;
  return r;
}

uint64_t retries_of(const oss::oss_client& c, std::string_view api) {
  for (const oss::api_stats& s : c.stats()) {
    if (s.api == api) {
      return s.retries;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("a 503 storm is retried with backoff and the GET then succeeds") {
  emu_fixture f;
  auto c = f.client("big");
  uint64_t retries_before = retries_of(*c, "GetObject");
  f.add_fault(rule(emu::fault_kind::http_503, 2));
  auto got = read_range(*c, "blob.bin", 100, 1000, 1000);
  REQUIRE_MESSAGE(got.r.ok(), (got.r.ok() ? "" : got.r.err().describe()));
  CHECK(got.data == emu::content_bytes("blob.bin", big_size, 100, 1000));
  CHECK(f.count(emu::api::get_object) == 3);
  CHECK(f.sleeps.size() == 2);
  for (auto d : f.sleeps) {
    CHECK(d <= milliseconds(8));  // full jitter under the (test) cap
  }
  CHECK(retries_of(*c, "GetObject") == retries_before + 2);
}

TEST_CASE("the server's x-oss-qos-delay-time is waited at least") {
  emu_fixture f;
  auto c = f.client("big");
  f.add_fault(rule(emu::fault_kind::http_503, 2));
  f.http.tamper = [](emu::response& r) {
    if (r.status == 503) {
      r.headers.set("x-oss-qos-delay-time", "1500");
    }
  };
  auto got = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE(got.r.ok());
  REQUIRE(f.sleeps.size() == 2);
  CHECK(f.sleeps[0] >= milliseconds(1500));
  CHECK(f.sleeps[1] >= milliseconds(1500));
}

TEST_CASE("a storm longer than the attempts fails with EIO and the request id") {
  emu_fixture f;
  auto c = f.client("big");
  f.add_fault(rule(emu::fault_kind::http_503));
  auto got = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE(!got.r.ok());
  CHECK(got.r.err().code == EIO);
  CHECK(got.r.err().http_status == 503);
  CHECK(!got.r.err().request_id.empty());
  CHECK(f.count(emu::api::get_object) == 3);
}

TEST_CASE("resets, truncated bodies and short Content-Lengths are retried, never returned") {
  emu_fixture f;
  auto c = f.client("big");
  emu::fault_kind kind = emu::fault_kind::reset_after_bytes;
  SUBCASE("reset mid-body") {
    kind = emu::fault_kind::reset_after_bytes;
  }
  SUBCASE("truncated body") {
    kind = emu::fault_kind::truncate_body;
  }
  SUBCASE("Content-Length larger than the body") {
    kind = emu::fault_kind::wrong_content_length;
  }
  SUBCASE("stall") {
    kind = emu::fault_kind::stall;
  }
  CAPTURE(emu::fault_kind_name(kind));
  f.add_fault(rule(kind, 2, 70000));
  auto whole = read_range(*c, "blob.bin", 0, std::nullopt, big_size);
  REQUIRE_MESSAGE(whole.r.ok(), (whole.r.ok() ? "" : whole.r.err().describe()));
  CHECK(whole.r->bytes == big_size);
  CHECK(whole.data == emu::content_bytes("blob.bin", big_size, 0, big_size));
  CHECK(f.count(emu::api::get_object) == 3);

  f.add_fault(rule(kind, 2, 5000));
  auto part = read_range(*c, "blob.bin", 4096, 200000, 200000);
  REQUIRE(part.r.ok());
  CHECK(part.data == emu::content_bytes("blob.bin", big_size, 4096, 200000));
}

TEST_CASE("a read that keeps failing mid-body is an error, not a short read") {
  emu_fixture f;
  auto c = f.client("big");
  f.add_fault(rule(emu::fault_kind::reset_after_bytes, -1, 4096));
  auto got = read_range(*c, "blob.bin", 0, 100000, 100000);
  REQUIRE(!got.r.ok());
  CHECK(got.r.err().code == ECONNRESET);
  CHECK(got.r.err().message.find("oss://big/blob.bin") != std::string::npos);
  CHECK(f.count(emu::api::get_object) == 3);
}

TEST_CASE("non-idempotent requests are not retried; whole-buffer PUTs are") {
  emu_fixture f;
  auto c = f.client("rw");
  f.add_fault(rule(emu::fault_kind::http_503, 1));
  auto id = sync_wait(c->initiate_multipart("mp"));
  REQUIRE(!id.ok());
  CHECK(id.err().code == EIO);
  CHECK(f.count(emu::api::initiate_multipart_upload) == 1);

  id = sync_wait(c->initiate_multipart("mp"));
  REQUIRE(id.ok());
  std::string part(100 * 1024, 'p');
  auto p1 = sync_wait(c->upload_part("mp", *id, 1, bytes_of(part)));
  REQUIRE(p1.ok());
  f.add_fault(rule(emu::fault_kind::http_500, 1));
  auto done = sync_wait(c->complete_multipart("mp", *id, {*p1}));
  REQUIRE(!done.ok());
  CHECK(done.err().code == EIO);
  CHECK(f.count(emu::api::complete_multipart_upload) == 1);

  f.add_fault(rule(emu::fault_kind::http_503, 1));
  CHECK(sync_wait(c->put_object("whole", bytes_of("data"))).ok());
  CHECK(f.count(emu::api::put_object) == 2);
  f.add_fault(rule(emu::fault_kind::http_503, 1));
  CHECK(sync_wait(c->upload_part("mp", *id, 2, bytes_of(part))).ok());
  CHECK(f.count(emu::api::upload_part) == 3);
}

TEST_CASE("a request the server refused unprocessed (HTTP/2) is sent again, POSTs too") {
  emu_fixture f;
  auto c = f.client("rw");
  f.http.refuse = 1;
  auto id = sync_wait(c->initiate_multipart("mp"));
  REQUIRE(id.ok());
  CHECK(f.count(emu::api::initiate_multipart_upload) == 1);
  CHECK(retries_of(*c, "InitiateMultipartUpload") == 1);
  std::string part(100 * 1024, 'p');
  f.http.refuse = 2;  // a streamed body, read each time
  auto p1 = sync_wait(c->upload_part("mp", *id, 1, bytes_of(part)));
  REQUIRE(p1.ok());
  CHECK(f.count(emu::api::upload_part) == 1);
  f.http.refuse = 1;
  auto done = sync_wait(c->complete_multipart("mp", *id, {*p1}));
  REQUIRE(done.ok());
  auto got = sync_wait(c->get_object_meta("mp"));
  REQUIRE(got.ok());
  CHECK(got->size == part.size());
  f.http.refuse = 100;  // as many as there are attempts: the error reaches the caller
  auto last = sync_wait(c->initiate_multipart("mp2"));
  REQUIRE_FALSE(last.ok());
  CHECK(last.err().code == EAGAIN);
  f.http.refuse = 0;
}

TEST_CASE("a CRC-64 mismatch on upload is detected and the upload sent again") {
  emu_fixture f;
  auto c = f.client("rw");
  int tampered = 0;
  f.http.tamper = [&](emu::response& r) {
    if (r.op == emu::api::put_object && tampered++ == 0) {
      r.headers.set("x-oss-hash-crc64ecma", "1");
    }
  };
  auto put = sync_wait(c->put_object("k", bytes_of("abc")));
  REQUIRE(put.ok());
  CHECK(f.count(emu::api::put_object) == 2);

  f.http.tamper = [](emu::response& r) { r.headers.set("x-oss-hash-crc64ecma", "1"); };
  auto bad = sync_wait(c->put_object("k", bytes_of("abc")));
  REQUIRE(!bad.ok());
  CHECK(bad.err().code == EIO);
  CHECK(bad.err().message.find("CRC-64") != std::string::npos);
}

TEST_CASE("RequestTimeTooSkewed fixes the clock offset and the request goes again") {
  emu_fixture f;
  auto cfg = f.config("rw");
  const int64_t server_now = 1'800'000'000;
  f.server.set_wall_clock([=] { return server_now; });
  cfg.wall_clock = [=] { return server_now - 3600; };
  auto c = f.client(cfg);
  auto id = sync_wait(c->initiate_multipart("skewed"));  // not idempotent, still safe to resend
  REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.err().describe()));
  CHECK(c->clock_offset() == 3600);
  CHECK(f.count(emu::api::initiate_multipart_upload) == 2);
  CHECK(sync_wait(c->head_object("missing")).err().code == ENOENT);  // no more skew
  CHECK(f.count(emu::api::head_object) == 1);
}

TEST_CASE("a cancelled caller stops at once, also between attempts") {
  emu_fixture f;
  auto c = f.client("big");
  SUBCASE("aborted before the call: nothing is sent") {
    abort_source a;
    a.request_abort();
    oss::get_request req{.key = "blob.bin", .offset = 0, .length = 10};
    std::string buf(10, '\0');
    auto r =
        sync_wait(c->get_object(req, {reinterpret_cast<std::byte*>(buf.data()), buf.size()}, &a));
    REQUIRE(!r.ok());
    CHECK(r.err().code == ECANCELED);
    CHECK(f.count(emu::api::get_object) == 0);
  }
  SUBCASE("aborted while waiting to retry") {
    abort_source a;
    auto cfg = f.config("big");
    cfg.sleep = [&a](std::chrono::nanoseconds, abort_source* src) -> task<bool> {
      a.request_abort();
      co_return !(src && src->aborted());
    };
    auto c2 = f.client(cfg);
    f.add_fault(rule(emu::fault_kind::http_503));
    auto r = sync_wait(c2->head_object("blob.bin", &a));
    REQUIRE(!r.ok());
    CHECK(r.err().code == ECANCELED);
    CHECK(f.count(emu::api::head_object) == 1);
  }
}

TEST_CASE("the rate limiter spaces requests beyond the burst") {
  emu_fixture f;
  int64_t now = 1'000'000'000;
  auto cfg = f.config("rw");
  cfg.limiter = std::make_shared<oss::rate_limiter>(10.0, 2.0, [&] { return now; });
  auto c = f.client(cfg);
  for (int i = 0; i < 5; ++i) {
    CHECK(sync_wait(c->delete_object("k")).ok());
  }
  // Two pass at once; the next wait 100, 200 and 300 ms (the fake clock does not move).
  REQUIRE(f.sleeps.size() == 3);
  CHECK(f.sleeps[0] == milliseconds(100));
  CHECK(f.sleeps[1] == milliseconds(200));
  CHECK(f.sleeps[2] == milliseconds(300));
}

TEST_CASE("an x-oss-qos-delay-time of an hour is waited only max_qos_delay (10 s)") {
  emu_fixture f;
  auto c = f.client("big");
  f.add_fault(rule(emu::fault_kind::http_503, 2));
  f.http.tamper = [](emu::response& r) {
    if (r.status == 503) {
      r.headers.set("x-oss-qos-delay-time", "3600000");
    }
  };
  auto got = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE(got.r.ok());
  REQUIRE(f.sleeps.size() == 2);
  CHECK(f.sleeps[0] == std::chrono::seconds(10));
  CHECK(f.sleeps[1] == std::chrono::seconds(10));
}

TEST_CASE("retries stop when the call's time budget is spent") {
  emu_fixture f;
  auto cfg = f.config("big");
  cfg.retry.max_attempts = 100;
  cfg.retry.budget = milliseconds(1000);
  auto c = f.client(cfg);
  f.add_fault(rule(emu::fault_kind::http_503));
  f.http.tamper = [](emu::response& r) {
    if (r.status == 503) {
      r.headers.set("x-oss-qos-delay-time", "300");
    }
  };
  auto got = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE(!got.r.ok());
  CHECK(got.r.err().code == EIO);
  CHECK(got.r.err().message.find("budget") != std::string::npos);
  // 300 ms waits: three fit in the second, the fourth would pass it.
  CHECK(f.sleeps.size() == 3);
  CHECK(f.count(emu::api::get_object) == 4);
}

TEST_CASE("throttling (SlowDown) is retried up to throttled_attempts, other 503s are not") {
  emu_fixture f;
  auto cfg = f.config("big");
  cfg.retry.max_attempts = 3;
  cfg.retry.throttled_attempts = 20;
  auto c = f.client(cfg);
  f.add_fault(rule(emu::fault_kind::http_503, 12));
  bool slow_down = true;
  f.http.tamper = [&slow_down](emu::response& r) {
    if (r.status == 503 && slow_down) {
      const std::string from = "ServiceUnavailable";
      size_t at = r.body.find(from);
      if (at != std::string::npos) {
        r.body.replace(at, from.size(), "SlowDown");
        r.headers.set("Content-Length", std::to_string(r.body.size()));
      }
    }
  };
  // Twelve SlowDowns, then the answer: within the 20 throttled attempts.
  auto got = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE_MESSAGE(got.r.ok(), (got.r.ok() ? "" : got.r.err().describe()));
  CHECK(f.count(emu::api::get_object) == 13);

  // Plain 503 ServiceUnavailable keeps the ordinary three attempts.
  slow_down = false;
  f.clear_faults();
  f.add_fault(rule(emu::fault_kind::http_503));
  auto plain = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE(!plain.r.ok());
  CHECK(f.count(emu::api::get_object) == 13 + 3);
}

TEST_CASE("the mount's startup policy rides out throttling for 60 s a request, not 0.4 s") {
  oss::retry_policy run;
  oss::retry_policy s = oss::startup_retry(run);
  CHECK(s.max_attempts == run.max_attempts);
  CHECK(s.throttled_attempts >= 50);
  CHECK(s.budget == std::chrono::seconds(60));
  CHECK(s.max_delay <= std::chrono::seconds(5));

  emu_fixture f;
  auto cfg = f.config("big");
  cfg.retry = s;
  cfg.retry.base_delay = milliseconds(200);
  auto c = f.client(cfg);
  f.add_fault(rule(emu::fault_kind::http_503));
  f.http.tamper = [](emu::response& r) {
    if (r.status == 503) {
      const std::string from = "ServiceUnavailable";
      size_t at = r.body.find(from);
      if (at != std::string::npos) {
        r.body.replace(at, from.size(), "TotalQpsLimitExceeded");
        r.headers.set("Content-Length", std::to_string(r.body.size()));
      }
    }
  };
  auto got = read_range(*c, "blob.bin", 0, 10, 10);
  REQUIRE(!got.r.ok());
  std::chrono::nanoseconds waited{0};
  for (auto d : f.sleeps) {
    waited += d;
  }
  // Waits stop once the next would pass the budget, and none is longer than 5 s.
  CHECK(waited >= std::chrono::seconds(55));
  CHECK(waited <= std::chrono::seconds(60));
}

TEST_CASE("a whole-object GET sent chunked or close-delimited (no Content-Length) is read") {
  for (std::string framing : {"chunked", "close"}) {
    CAPTURE(framing);
    emu_fixture f;
    auto c = f.client("big");
    f.http.tamper = [framing](emu::response& r) {
      r.headers.remove("Content-Length");
      if (framing == "chunked") {
        r.headers.set("Transfer-Encoding", "chunked");
      } else {
        r.headers.set("Connection", "close");
      }
    };
    auto got = read_range(*c, "blob.bin", 0, std::nullopt, big_size);
    REQUIRE_MESSAGE(got.r.ok(), (got.r.ok() ? "" : got.r.err().describe()));
    CHECK(got.data == emu::content_bytes("blob.bin", big_size, 0, big_size));
    CHECK(got.r->object_size == big_size);
    CHECK(got.r->crc64 == emu::synthetic_crc64("blob.bin", big_size));
    CHECK(f.count(emu::api::get_object) == 1);
  }
}

TEST_CASE("a close-delimited whole body shorter than expected counts only with a matching CRC") {
  emu_fixture f;
  auto c = f.client("big");
  bool send_crc = true;
  f.http.tamper = [&send_crc](emu::response& r) {
    r.headers.remove("Content-Length");
    if (!send_crc) {
      r.headers.remove("x-oss-hash-crc64ecma");
    }
  };
  // The CRC-64 of the whole object proves the shorter body is the object: accepted.
  auto proven = read_range(*c, "blob.bin", 0, std::nullopt, big_size + 4096);
  REQUIRE_MESSAGE(proven.r.ok(), (proven.r.ok() ? "" : proven.r.err().describe()));
  CHECK(proven.r->bytes == big_size);
  // Nothing proves it: a connection dropped early looks the same, so it is retried, then fails.
  send_crc = false;
  auto cut = read_range(*c, "blob.bin", 0, std::nullopt, big_size + 4096);
  REQUIRE_FALSE(cut.r.ok());
  CHECK(cut.r.err().message.find("without Content-Length") != std::string::npos);
  CHECK(fs::errno_for(cut.r.err()) == EIO);  // what the reader sees: never EPROTO
  CHECK(f.count(emu::api::get_object) == 1 + 3);
}
