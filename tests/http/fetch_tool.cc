// fetch_tool: GETs URLs with http::client (all at once, over one client) and prints, per URL,
// "status=S protocol=P length=N sha256=H"; used by the nginx integration test.
//   fetch_tool [--http=auto|1.1|2] [--ca-file=PEM] [--insecure] [--output=FILE] URL...
// All URLs must share one scheme://host:port. --output writes the first URL's body to FILE.
// Exits 0 when every request got a response, 1 otherwise (errors go to stderr).
#include <openssl/evp.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/gate.hh"
#include "core/reactor.hh"
#include "http/client.hh"

using namespace ossuring;
using namespace ossuring::http;

namespace {

struct fetched {
  std::optional<error> failure;
  int status = 0;
  uint64_t length = 0;
  std::string sha256;
  std::string body;  // kept only for --output
};

std::string hex(const unsigned char* d, unsigned n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += digits[d[i] >> 4];
    s += digits[d[i] & 15];
  }
  return s;
}

task<void> fetch(client& c, std::string target, bool keep, fetched& out) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  exchange ex;
  ex.req.method = "GET";
  ex.req.target = std::move(target);
  ex.response_body = [&](std::span<const char> d) -> status {
    EVP_DigestUpdate(md, d.data(), d.size());
    out.length += d.size();
    if (keep) {
      out.body.append(d.data(), d.size());
    }
    return {};
  };
  result<response> r = co_await c.send(ex);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(md, digest, &n);
  EVP_MD_CTX_free(md);
  if (!r.ok()) {
    out.failure = r.err();
    co_return;
  }
  out.status = r->status;
  out.sha256 = hex(digest, n);
}

}  // namespace

int main(int argc, char** argv) {
  client_options opts;
  std::string output;
  std::vector<std::string> urls;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.starts_with("--http=")) {
      opts.http = a.substr(7);
    } else if (a.starts_with("--ca-file=")) {
      opts.ca_file = a.substr(10);
    } else if (a == "--insecure") {
      opts.verify_peer = false;
    } else if (a.starts_with("--output=")) {
      output = a.substr(9);
    } else if (a.starts_with("--")) {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    } else {
      urls.push_back(a);
    }
  }
  if (urls.empty()) {
    std::fprintf(stderr,
                 "usage: fetch_tool [--http=auto|1.1|2] [--ca-file=PEM] [--insecure] "
                 "[--output=FILE] URL...\n");
    return 2;
  }
  std::string origin;
  std::vector<std::string> targets;
  for (const std::string& u : urls) {
    size_t scheme = u.find("://");
    size_t slash = u.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    std::string o = slash == std::string::npos ? u : u.substr(0, slash);
    if (!origin.empty() && o != origin) {
      std::fprintf(stderr, "all URLs must share one origin (%s vs %s)\n", origin.c_str(),
                   o.c_str());
      return 2;
    }
    origin = o;
    targets.push_back(slash == std::string::npos ? "/" : u.substr(slash));
  }
  result<endpoint> ep = parse_endpoint(origin);
  if (!ep.ok()) {
    std::fprintf(stderr, "%s\n", ep.err().message.c_str());
    return 2;
  }
  std::vector<fetched> results(targets.size());
  std::string protocol;
  try {
    reactor r;
    r.run([&]() -> task<void> {
      std::unique_ptr<client> c = make_client(*ep, opts);
      gate g;
      for (size_t i = 0; i < targets.size(); ++i) {
        g.spawn(fetch(*c, targets[i], i == 0 && !output.empty(), results[i]));
      }
      co_await g.close();
      protocol = c->negotiated_protocol();
      co_await c->close();
    }());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fetch_tool: %s\n", e.what());
    return 2;
  }
  int rc = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const fetched& f = results[i];
    if (f.failure) {
      std::fprintf(stderr, "%s: error %d (%s): %s\n", urls[i].c_str(), f.failure->code,
                   std::strerror(f.failure->code), f.failure->message.c_str());
      std::printf("error=%d url=%s\n", f.failure->code, urls[i].c_str());
      rc = 1;
      continue;
    }
    std::printf("status=%d protocol=%s length=%llu sha256=%s url=%s\n", f.status, protocol.c_str(),
                static_cast<unsigned long long>(f.length), f.sha256.c_str(), urls[i].c_str());
  }
  if (!output.empty() && !results[0].failure) {
    std::ofstream(output, std::ios::binary)
        .write(results[0].body.data(), static_cast<std::streamsize>(results[0].body.size()));
  }
  return rc;
}
