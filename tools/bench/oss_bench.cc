// oss_bench: CPU cost of the OSS layer's per-request work without any I/O: V4 and V1 signing of a
// GET, and parsing a 1,000-key ListObjectsV2 page (URL-encoded, as the emulator renders it).
// Prints the minimum over several batches of thread CPU time, which a busy machine disturbs
// less than wall time. A benchmark, not a test.
//
// Beside the real parse it times pugixml's in-place load alone, and, when librapidxml-dev is
// installed, RapidXML's in-place parse with the same walk over the entries: a reference for the
// choice of listing parser (docs/benchmarks.md), not code the client uses.
//
// Usage: oss_bench [--batches N] [--page FILE]   (FILE: a ListObjectsV2 body to parse instead)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iterator>
#include <pugixml.hpp>
#include <string>
#include <vector>
#if __has_include(<rapidxml/rapidxml.hpp>)
#include <rapidxml/rapidxml.hpp>
#define OSSURING_BENCH_RAPIDXML 1
#endif

#include "core/memory.hh"
#include "http/oss/sign.hh"
#include "http/oss/xml.hh"
#include "http/oss/xml_render.hh"

using namespace ossuring;

namespace {

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Minimum CPU µs per call of `fn` over `batches` batches of `n` calls.
double measure(int batches, int n, const std::function<void()>& fn) {
  double best = 1e300;
  for (int b = 0; b < batches; ++b) {
    double t0 = thread_cpu_us();
    for (int i = 0; i < n; ++i) {
      fn();
    }
    best = std::min(best, (thread_cpu_us() - t0) / n);
  }
  return best;
}

std::string listing_page() {
  oss::list_render_input in;
  in.bucket = "million";
  in.url_encode = true;
  in.truncated = true;
  in.next_token = "file-0500999.bin";
  for (int i = 0; i < 1000; ++i) {
    oss::object_info o;
    char key[32];
    std::snprintf(key, sizeof key, "file-%07d.bin", 500000 + i);
    o.key = key;
    o.size = 1024;
    o.mtime_sec = 1700000000 + i;
    o.etag = "5EB63BBBE01EEED093CB22BB8F5ACDC3";
    o.object_type = "Normal";
    o.storage_class = "Standard";
    in.objects.push_back(std::move(o));
  }
  return oss::render_list_objects_v2(in);
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc(std::getenv("GLIBC_TUNABLES"));  // as the daemon runs (core/memory.hh)
  int batches = 7;
  const char* page_file = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
      batches = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--page") == 0 && i + 1 < argc) {
      page_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: oss_bench [--batches N] [--page FILE]\n");
      return 2;
    }
  }
  size_t sink = 0;
  oss::credentials creds{"bench-ak", "bench-sk", ""};
  auto sign = [&](int version) {
    http::request req;
    req.method = "GET";
    oss::signing_input in;
    in.method = "GET";
    in.bucket = "s4k";
    in.key = "file-00.bin";
    if (version == 4) {
      oss::sign_request_v4(req, std::move(in), creds, "cn-hangzhou", 1702743657);
    } else {
      oss::sign_request_v1(req, std::move(in), creds, 1702743657);
    }
    sink += req.headers.size();
  };
  double v4 = measure(batches, 20000, [&] { sign(4); });
  double v1 = measure(batches, 20000, [&] { sign(1); });

  std::string page = listing_page();
  if (page_file != nullptr) {
    std::ifstream in(page_file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "oss_bench: cannot read %s\n", page_file);
      return 2;
    }
    page.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  double parse = measure(batches, 50, [&] {
    auto p = oss::parse_list_objects_v2(page);  // a copy: the response body the client would own
    sink += p.ok() ? p->objects.size() : 0;
  });
  // The client's flags (http/oss/xml.cc); the copy into `buf` is in every case, as in the real
  // parse, which owns its body.
  std::vector<char> buf(page.size() + 1);
  double pugi_load = measure(batches, 50, [&] {
    std::memcpy(buf.data(), page.data(), page.size());
    pugi::xml_document doc;
    auto r = doc.load_buffer_inplace(
        buf.data(), page.size(),
        (pugi::parse_default & ~pugi::parse_eol) | pugi::parse_embed_pcdata, pugi::encoding_utf8);
    sink += r ? 1 : 0;
  });
  std::printf(
      "sign_v4_us=%.2f sign_v1_us=%.2f list_page_bytes=%zu list_parse_us=%.1f "
      "pugixml_load_us=%.1f",
      v4, v1, page.size(), parse, pugi_load);
#ifdef OSSURING_BENCH_RAPIDXML
  // Entities translated (ETags come as &quot;…&quot;), no data nodes (values live in their
  // elements, as with pugixml's embed_pcdata); every field of every entry touched once.
  rapidxml::xml_document<> rdoc;
  double rapid = measure(batches, 50, [&] {
    std::memcpy(buf.data(), page.data(), page.size());
    buf[page.size()] = '\0';
    rdoc.clear();
    rdoc.parse<rapidxml::parse_no_data_nodes>(buf.data());
    for (auto* c = rdoc.first_node()->first_node(); c != nullptr; c = c->next_sibling()) {
      for (auto* f = c->first_node(); f != nullptr; f = f->next_sibling()) {
        sink += f->value_size();
      }
    }
  });
  std::printf(" rapidxml_parse_walk_us=%.1f", rapid);
#endif
  std::printf(" (%zu)\n", sink);
  return 0;
}
