// client_bench: the OSS client (oss::oss_client over http::client) against an OSS endpoint (the
// emulator): whole-object GETs of one key, or ListObjectsV2 pages, by N concurrent callers on one
// reactor; prints requests/s, MB/s and p50/p99 latency per concurrency level (a benchmark, not a
// test: tools/bench/client_bench.py runs it next to h2load, see docs/benchmarks.md).
//   client_bench --endpoint=http://127.0.0.1:PORT --bucket=B [--key=K | --list=FORMAT,PAGES]
//                [--http=1.1|2|auto] [--concurrency=1,16,128] [--seconds=5] [--sign=1|4]
//                [--h1-connections=N] [--h2-connections=N] [--access-key-id=ID
//                --access-key-secret=S]
// --list: page i (of PAGES, round robin) starts after the key printf(FORMAT, i * 1000), e.g.
// "file-%07d.bin,1000" on a flat:1000000 bucket; every page asks for 1,000 keys.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "core/gate.hh"
#include "core/memory.hh"
#include "core/reactor.hh"
#include "http/client.hh"
#include "http/oss/client.hh"
#include "http/oss/credentials.hh"
#include "http/oss/sign.hh"

using namespace ossuring;
using bench_clock = std::chrono::steady_clock;

namespace {

struct options {
  std::string endpoint;
  std::string bucket;
  std::string key;
  std::string list_format;
  unsigned list_pages = 0;
  std::string http = "2";
  std::vector<unsigned> levels = {1, 16, 128};
  double seconds = 5;
  int sign_version = 4;
  unsigned h1_connections = 0;  // 0: the client's default
  unsigned h2_connections = 0;
  std::string access_key_id = "bench-ak";
  std::string access_key_secret = "bench-sk";
  bool print_signed_headers = false;
};

struct level_result {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t bytes = 0;
  std::vector<double> latencies_ms;
  std::string first_error;
};

// What every caller of one level shares.
struct level_state {
  oss::oss_client* client = nullptr;
  const options* opts = nullptr;
  uint64_t object_size = 0;
  // Destination buffers, at most 256 MiB in all: callers share them round robin when there are
  // more callers than buffers (the bytes are not checked here; the client checks CRC-64).
  std::vector<std::vector<std::byte>> buffers;
  unsigned next_page = 0;
};

std::string page_start(const options& o, unsigned page) {
  char buf[256];
  std::snprintf(buf, sizeof buf, o.list_format.c_str(), page * 1000);
  return buf;
}

// One request; its latency and bytes go to `out`.
task<void> one_request(level_state& st, unsigned caller, level_result& out) {
  auto start = bench_clock::now();
  uint64_t bytes = 0;
  std::string err;
  if (st.opts->list_pages > 0) {
    oss::list_request req;
    req.start_after = page_start(*st.opts, st.next_page++ % st.opts->list_pages);
    req.max_keys = 1000;
    auto page = co_await st.client->list_objects_v2(req);
    if (!page.ok()) {
      err = page.err().describe();
    } else if (page->objects.size() != 1000) {
      err = "a page of " + std::to_string(page->objects.size()) + " keys";
    } else {
      bytes = page->objects.size();
    }
  } else {
    auto& buf = st.buffers[caller % st.buffers.size()];
    oss::get_request req{.key = st.opts->key};
    auto got = co_await st.client->get_object(req, buf);
    if (!got.ok()) {
      err = got.err().describe();
    } else if (got->bytes != st.object_size) {
      err = "short read: " + std::to_string(got->bytes);
    } else {
      bytes = got->bytes;
    }
  }
  auto ms = std::chrono::duration<double, std::milli>(bench_clock::now() - start).count();
  if (!err.empty()) {
    ++out.errors;
    if (out.first_error.empty()) {
      out.first_error = err;
    }
    co_return;
  }
  ++out.requests;
  out.bytes += bytes;
  out.latencies_ms.push_back(ms);
}

task<void> caller_loop(level_state& st, unsigned caller, bench_clock::time_point until,
                       level_result& out) {
  do {
    co_await one_request(st, caller, out);
  } while (bench_clock::now() < until);
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
  return v[i];
}

std::vector<unsigned> parse_levels(const std::string& list) {
  std::vector<unsigned> levels;
  for (size_t pos = 0; pos < list.size();) {
    size_t comma = list.find(',', pos);
    levels.push_back(static_cast<unsigned>(std::stoul(list.substr(pos, comma - pos))));
    pos = comma == std::string::npos ? list.size() : comma + 1;
  }
  return levels;
}

// Parses argv into `o`; false (after a message) on a bad argument.
bool parse_args(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string_view name) -> const char* {
      return a.starts_with(name) ? a.c_str() + name.size() : nullptr;
    };
    if (auto v = value("--endpoint=")) {
      o.endpoint = v;
    } else if (auto v = value("--bucket=")) {
      o.bucket = v;
    } else if (auto v = value("--key=")) {
      o.key = v;
    } else if (auto v = value("--list=")) {
      std::string s = v;
      size_t comma = s.rfind(',');
      if (comma == std::string::npos) {
        std::fprintf(stderr, "--list wants FORMAT,PAGES\n");
        return false;
      }
      o.list_format = s.substr(0, comma);
      o.list_pages = static_cast<unsigned>(std::stoul(s.substr(comma + 1)));
    } else if (auto v = value("--http=")) {
      o.http = v;
    } else if (auto v = value("--concurrency=")) {
      o.levels = parse_levels(v);
    } else if (auto v = value("--seconds=")) {
      o.seconds = std::stod(v);
    } else if (auto v = value("--sign=")) {
      o.sign_version = std::stoi(v);
    } else if (auto v = value("--h1-connections=")) {
      o.h1_connections = static_cast<unsigned>(std::stoul(v));
    } else if (auto v = value("--h2-connections=")) {
      o.h2_connections = static_cast<unsigned>(std::stoul(v));
    } else if (auto v = value("--access-key-id=")) {
      o.access_key_id = v;
    } else if (auto v = value("--access-key-secret=")) {
      o.access_key_secret = v;
    } else if (a == "--print-signed-headers") {
      o.print_signed_headers = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return false;
    }
  }
  if (o.endpoint.empty() || o.bucket.empty() || (o.key.empty() == (o.list_pages == 0))) {
    std::fprintf(stderr,
                 "usage: client_bench --endpoint=URL --bucket=B (--key=K | --list=FORMAT,PAGES) "
                 "[--http=1.1|2] [--concurrency=1,16,128] [--seconds=5] [--sign=1|4]\n");
    return false;
  }
  return true;
}

// Runs one concurrency level on a fresh client: warm-up (connections opened, object size
// learned), then `seconds` of `level` callers. Prints one line; false on errors.
task<bool> run_level(const options& o, const http::endpoint& ep, unsigned level) {
  http::client_options ho;
  ho.http = o.http;
  if (o.h1_connections > 0) {
    ho.max_h1_connections = o.h1_connections;
  }
  if (o.h2_connections > 0) {
    ho.h2_connections = o.h2_connections;
  }
  std::unique_ptr<http::client> http = http::make_client(ep, ho);
  oss::client_config cfg;
  cfg.bucket = o.bucket;
  cfg.endpoint = ep;
  cfg.path_style = true;
  cfg.sign_version = o.sign_version;
  cfg.region = "cn-hangzhou";
  auto creds = oss::make_static_provider(oss::credentials{o.access_key_id, o.access_key_secret});
  oss::oss_client client(*http, std::move(creds), cfg);

  level_state st;
  st.client = &client;
  st.opts = &o;
  bool ok = true;
  if (o.list_pages == 0) {
    auto info = co_await client.head_object(o.key);
    if (!info.ok()) {
      std::fprintf(stderr, "HeadObject %s: %s\n", o.key.c_str(), info.err().describe().c_str());
      co_await http->close();
      co_return false;
    }
    st.object_size = info->size;
    size_t buffers = std::clamp<size_t>((256u << 20) / std::max<uint64_t>(info->size, 1), 1, level);
    st.buffers.assign(buffers, std::vector<std::byte>(info->size));
  }
  {
    level_result warm;
    gate g;
    for (unsigned i = 0; i < level; ++i) {
      g.spawn(caller_loop(st, i, bench_clock::now(), warm));
    }
    co_await g.close();
  }
  level_result res;
  auto start = bench_clock::now();
  auto until = start + std::chrono::duration_cast<bench_clock::duration>(
                           std::chrono::duration<double>(o.seconds));
  {
    gate g;
    for (unsigned i = 0; i < level; ++i) {
      g.spawn(caller_loop(st, i, until, res));
    }
    co_await g.close();
  }
  double elapsed = std::chrono::duration<double>(bench_clock::now() - start).count();
  std::printf(
      "op=%s size=%llu protocol=%s concurrency=%u requests=%llu errors=%llu req_per_s=%.0f "
      "MB_per_s=%.1f p50_ms=%.3f p99_ms=%.3f connections=%llu\n",
      o.list_pages > 0 ? "list" : "get", static_cast<unsigned long long>(st.object_size),
      http->negotiated_protocol().c_str(), level, static_cast<unsigned long long>(res.requests),
      static_cast<unsigned long long>(res.errors), static_cast<double>(res.requests) / elapsed,
      o.list_pages > 0 ? 0.0 : static_cast<double>(res.bytes) / elapsed / 1e6,
      percentile(res.latencies_ms, 0.5), percentile(res.latencies_ms, 0.99),
      static_cast<unsigned long long>(http->stats().connections_opened));
  std::fflush(stdout);
  if (!res.first_error.empty()) {
    std::fprintf(stderr, "first error: %s\n", res.first_error.c_str());
    ok = false;
  }
  co_await http->close();
  co_return ok;
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc(std::getenv("GLIBC_TUNABLES"));  // as the daemon runs (core/memory.hh)
  options o;
  if (!parse_args(argc, argv, o)) {
    return 2;
  }
  result<http::endpoint> ep = http::parse_endpoint(o.endpoint);
  if (!ep.ok()) {
    std::fprintf(stderr, "%s\n", ep.err().message.c_str());
    return 2;
  }
  if (o.print_signed_headers) {
    // The headers this client's whole-object GET of --key carries, signed now, so that h2load can
    // send the very same request (valid for the 15 minutes the server allows for clock skew) and
    // the server verifies a signature for both load programs alike.
    http::request req;
    oss::signing_input in;
    in.method = "GET";
    in.bucket = o.bucket;
    in.key = o.key;
    oss::credentials creds{o.access_key_id, o.access_key_secret, ""};
    if (o.sign_version == 1) {
      oss::sign_request_v1(req, std::move(in), creds, ::time(nullptr));
    } else {
      oss::sign_request_v4(req, std::move(in), creds, "cn-hangzhou", ::time(nullptr));
    }
    for (const http::header& h : req.headers) {
      std::printf("%.*s: %.*s\n", static_cast<int>(h.name.size()), h.name.data(),
                  static_cast<int>(h.value.size()), h.value.data());
    }
    return 0;
  }
  int rc = 0;
  reactor r;
  r.run([&]() -> task<void> {
    for (unsigned level : o.levels) {
      if (!co_await run_level(o, *ep, level)) {
        rc = 1;
      }
    }
  }());
  return rc;
}
