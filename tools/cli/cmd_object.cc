// `ossuring ls|stat|get|put`: object commands for people and scripts, over the same connection
// and credential options as `mount`. Errors name the operation, the key and the request id.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/gate.hh"
#include "core/reactor.hh"
#include "http/oss/crc64.hh"
#include "http/oss/time.hh"
#include "tools/cli/client_setup.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/config.hh"

namespace ossuring::cli {

namespace {

constexpr uint64_t get_chunk = 8ull << 20;  // ranged GET size for large objects
constexpr uint64_t multipart_threshold = 64ull << 20;
constexpr uint64_t min_part_size = 16ull << 20;
constexpr uint64_t max_parts = 10000;
constexpr unsigned upload_concurrency = 4;  // parts in flight at once

struct object_args {
  mount_config cfg;
  std::vector<std::string> positional;
  bool recursive = false;
};

// Options as `mount` takes them (--name=value, --name value, -o a,b=c, -c FILE), plus -r for ls.
// Returns false (after printing why) on a usage error.
bool parse_object_args(const char* cmd, const args& a, object_args& out) {
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "ossuring %s: %s\n", cmd, msg.c_str());
    return false;
  };
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    if (s == "-r" || s == "--recursive") {
      out.recursive = true;
    } else if (s == "-c" || s == "--config") {
      if (i + 1 >= a.size()) {
        return fail(s + " needs a file");
      }
      if (status st = apply_config_file(out.cfg, a[++i]); !st) {
        return fail(st.err().message);
      }
    } else if (s == "-o") {
      if (i + 1 >= a.size()) {
        return fail("-o needs a value");
      }
      std::string_view rest = a[++i];
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
        size_t eq = item.find('=');
        if (item.empty()) {
          continue;
        }
        if (status st = apply_option(out.cfg, item.substr(0, eq),
                                     eq == std::string_view::npos ? "" : item.substr(eq + 1),
                                     eq != std::string_view::npos);
            !st) {
          return fail(st.err().message);
        }
      }
    } else if (s.size() > 2 && s.starts_with("--")) {
      std::string_view body = std::string_view(s).substr(2);
      size_t eq = body.find('=');
      if (eq != std::string_view::npos) {
        if (status st = apply_option(out.cfg, body.substr(0, eq), body.substr(eq + 1), true); !st) {
          return fail(st.err().message);
        }
        continue;
      }
      // A flag when it applies bare; otherwise the next argument is its value.
      mount_config probe = out.cfg;
      if (apply_option(probe, body, "", false)) {
        out.cfg = std::move(probe);
        continue;
      }
      if (i + 1 >= a.size()) {
        return fail(s + " needs a value");
      }
      if (status st = apply_option(out.cfg, body, a[++i], true); !st) {
        return fail(st.err().message);
      }
    } else if (s.size() > 1 && s[0] == '-' && s != "-") {
      return fail("unknown option " + s);
    } else {
      out.positional.push_back(s);
    }
  }
  return true;
}

// oss://bucket/key -> bucket, key (the key as written: no '/' added or removed).
bool split_url(std::string_view url, std::string& bucket, std::string& key) {
  if (!url.starts_with("oss://")) {
    return false;
  }
  url.remove_prefix(6);
  size_t slash = url.find('/');
  bucket = std::string(url.substr(0, slash));
  key = slash == std::string_view::npos ? "" : std::string(url.substr(slash + 1));
  return !bucket.empty();
}

void print_error(const char* cmd, const error& e) {
  std::fprintf(stderr, "ossuring %s: %s\n", cmd, e.describe().c_str());
}

// Runs `body` with a session on a fresh reactor; returns its exit code.
template <typename F>
int run_with_session(const char* cmd, const mount_config& cfg, F body) {
  auto session = make_oss_session(cfg);
  if (!session) {
    print_error(cmd, session.err());
    return 1;
  }
  reactor r;
  return r.run([](oss_session& s, F& f) -> task<int> {
    int rc = co_await f(*s.client);
    co_await s.close();
    co_return rc;
  }(**session, body));
}

std::string iso_time(int64_t sec) {
  std::string t = oss::format_iso8601(sec);
  // "2023-12-29T07:45:02.000Z" -> "2023-12-29T07:45:02Z"
  size_t dot = t.find('.');
  return dot == std::string::npos ? t : t.substr(0, dot) + "Z";
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_exact(int fd, char* p, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

std::span<std::byte> as_bytes(std::vector<char>& v, size_t n) {
  return {reinterpret_cast<std::byte*>(v.data()), n};
}

// Parts of one multipart upload shared by its workers: each takes the next part number.
struct upload_state {
  uint64_t next = 0;
  std::vector<oss::part_etag> parts;  // by part index
  std::optional<error> failed;
};

task<void> upload_worker(oss::oss_client& c, const std::string& key, const std::string& id, int fd,
                         uint64_t size, uint64_t part_size, upload_state& st) {
  std::vector<char> buf(part_size);
  while (!st.failed) {
    const uint64_t index = st.next++;
    const uint64_t off = index * part_size;
    if (off >= size) {
      break;
    }
    const uint64_t n = std::min(part_size, size - off);
    if (!read_exact(fd, buf.data(), n, off)) {
      st.failed = make_error(EIO, std::string("read: ") + std::strerror(errno));
      break;
    }
    auto p = co_await c.upload_part(key, id, static_cast<unsigned>(index + 1), as_bytes(buf, n));
    if (!p) {
      st.failed = std::move(p).err();
      break;
    }
    st.parts[index] = std::move(*p);
  }
}

}  // namespace

int cmd_ls(const args& a) {
  object_args o;
  if (!parse_object_args("ls", a, o)) {
    return 2;
  }
  std::string prefix;
  if (o.positional.size() != 1 || !split_url(o.positional[0], o.cfg.bucket, prefix)) {
    std::fprintf(stderr, "usage: ossuring ls oss://bucket[/prefix] [-r] [options]\n");
    return 2;
  }
  bool recursive = o.recursive;
  return run_with_session("ls", o.cfg, [prefix, recursive](oss::oss_client& c) -> task<int> {
    oss::list_request req;
    req.prefix = prefix;
    req.delimiter = recursive ? "" : "/";
    for (;;) {
      auto page = co_await c.list_objects_v2(req);
      if (!page) {
        print_error("ls", page.err());
        co_return 1;
      }
      for (const std::string& p : page->common_prefixes) {
        std::printf("%12s  %-20s  %s\n", "DIR", "", p.c_str());
      }
      for (const oss::listed_object& obj : page->objects) {
        std::printf("%12llu  %-20s  %.*s\n", static_cast<unsigned long long>(obj.size),
                    iso_time(obj.mtime_sec).c_str(), static_cast<int>(obj.key.size()),
                    obj.key.data());
      }
      if (!page->truncated) {
        break;
      }
      req.continuation_token = page->next_continuation_token;
    }
    co_return std::fflush(stdout) == 0 ? 0 : 1;
  });
}

int cmd_stat(const args& a) {
  object_args o;
  if (!parse_object_args("stat", a, o)) {
    return 2;
  }
  std::string key;
  if (o.positional.size() != 1 || !split_url(o.positional[0], o.cfg.bucket, key) || key.empty()) {
    std::fprintf(stderr, "usage: ossuring stat oss://bucket/key [options]\n");
    return 2;
  }
  return run_with_session("stat", o.cfg, [key](oss::oss_client& c) -> task<int> {
    auto info = co_await c.head_object(key);
    if (!info) {
      print_error("stat", info.err());
      co_return 1;
    }
    std::printf(
        "key: %s\nsize: %llu\netag: %s\nmtime: %s\ntype: %s\nstorage_class: %s\n"
        "content_type: %s\n",
        key.c_str(), static_cast<unsigned long long>(info->size), info->etag.c_str(),
        iso_time(info->mtime_sec).c_str(), info->object_type.c_str(), info->storage_class.c_str(),
        info->content_type.c_str());
    if (info->crc64) {
      std::printf("crc64ecma: %llu\n", static_cast<unsigned long long>(*info->crc64));
    }
    for (const auto& [name, value] : info->user_meta) {
      std::printf("meta.%s: %s\n", name.c_str(), value.c_str());
    }
    std::printf("request_id: %s\n", info->request_id.c_str());
    co_return 0;
  });
}

int cmd_get(const args& a) {
  object_args o;
  if (!parse_object_args("get", a, o)) {
    return 2;
  }
  std::string key;
  if (o.positional.empty() || o.positional.size() > 2 ||
      !split_url(o.positional[0], o.cfg.bucket, key) || key.empty()) {
    std::fprintf(stderr, "usage: ossuring get oss://bucket/key [FILE] [options]\n");
    return 2;
  }
  std::string path = o.positional.size() == 2 ? o.positional[1] : "-";
  int fd = STDOUT_FILENO;
  if (path != "-") {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "ossuring get: %s: %s\n", path.c_str(), std::strerror(errno));
      return 1;
    }
  }
  int rc = run_with_session("get", o.cfg, [key, fd](oss::oss_client& c) -> task<int> {
    auto info = co_await c.head_object(key);
    if (!info) {
      print_error("get", info.err());
      co_return 1;
    }
    const uint64_t size = info->size;
    if (size <= get_chunk) {
      // One whole-object GET: the client checks its CRC-64.
      std::vector<char> buf(size);
      oss::get_request req{.key = key, .offset = 0, .length = std::nullopt, .if_match = info->etag};
      auto r = co_await c.get_object(req, as_bytes(buf, buf.size()));
      if (!r) {
        print_error("get", r.err());
        co_return 1;
      }
      co_return write_all(fd, buf.data(), r->bytes) ? 0 : 1;
    }
    // Ranged chunks of one version (If-Match), CRC-64 assembled and checked at the end.
    std::vector<char> buf(get_chunk);
    uint64_t crc = oss::crc64_init;
    for (uint64_t off = 0; off < size; off += get_chunk) {
      uint64_t n = std::min(get_chunk, size - off);
      oss::get_request req{.key = key, .offset = off, .length = n, .if_match = info->etag};
      auto r = co_await c.get_object(req, as_bytes(buf, n));
      if (!r) {
        print_error("get", r.err());
        co_return 1;
      }
      if (r->bytes != n) {
        std::fprintf(stderr, "ossuring get: oss://%s: short read at %llu\n", key.c_str(),
                     static_cast<unsigned long long>(off));
        co_return 1;
      }
      crc = oss::crc64_update(crc, buf.data(), n);
      if (!write_all(fd, buf.data(), n)) {
        std::fprintf(stderr, "ossuring get: write: %s\n", std::strerror(errno));
        co_return 1;
      }
    }
    if (info->crc64 && *info->crc64 != crc) {
      std::fprintf(stderr, "ossuring get: %s: CRC-64 mismatch (%llu, the server says %llu)\n",
                   key.c_str(), static_cast<unsigned long long>(crc),
                   static_cast<unsigned long long>(*info->crc64));
      co_return 1;
    }
    co_return 0;
  });
  if (fd != STDOUT_FILENO) {
    if (::close(fd) != 0 && rc == 0) {
      std::fprintf(stderr, "ossuring get: %s: %s\n", path.c_str(), std::strerror(errno));
      rc = 1;
    }
    if (rc != 0) {
      ::unlink(path.c_str());  // never leave a partial file that looks complete
    }
  }
  return rc;
}

int cmd_put(const args& a) {
  object_args o;
  if (!parse_object_args("put", a, o)) {
    return 2;
  }
  std::string key;
  if (o.positional.size() != 2 || !split_url(o.positional[1], o.cfg.bucket, key) || key.empty()) {
    std::fprintf(stderr, "usage: ossuring put FILE oss://bucket/key [options]\n");
    return 2;
  }
  const std::string path = o.positional[0];
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fprintf(stderr, "ossuring put: %s: %s\n", path.c_str(),
                 fd < 0 ? std::strerror(errno) : "not a regular file");
    if (fd >= 0) {
      ::close(fd);
    }
    return 1;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  int rc = run_with_session("put", o.cfg, [key, fd, size](oss::oss_client& c) -> task<int> {
    if (size <= multipart_threshold) {
      std::vector<char> buf(size);
      if (!read_exact(fd, buf.data(), size, 0)) {
        std::fprintf(stderr, "ossuring put: read: %s\n", std::strerror(errno));
        co_return 1;
      }
      auto r = co_await c.put_object(key, as_bytes(buf, size));
      if (!r) {
        print_error("put", r.err());
        co_return 1;
      }
      std::printf("etag: %s\n", r->etag.c_str());
      co_return 0;
    }
    uint64_t part_size = std::max(min_part_size, (size + max_parts - 1) / max_parts);
    auto id = co_await c.initiate_multipart(key);
    if (!id) {
      print_error("put", id.err());
      co_return 1;
    }
    upload_state st;
    st.parts.resize((size + part_size - 1) / part_size);
    gate workers;
    for (unsigned w = 0; w < upload_concurrency; ++w) {
      workers.spawn(upload_worker(c, key, *id, fd, size, part_size, st));
    }
    co_await workers.close();
    if (st.failed) {
      print_error("put", *st.failed);
      (void)co_await c.abort_multipart(key, *id);
      co_return 1;
    }
    const std::vector<oss::part_etag>& parts = st.parts;
    auto done = co_await c.complete_multipart(key, *id, parts);
    if (!done) {
      print_error("put", done.err());
      (void)co_await c.abort_multipart(key, *id);
      co_return 1;
    }
    std::printf("etag: %s\n", done->etag.c_str());
    co_return 0;
  });
  ::close(fd);
  return rc;
}

}  // namespace ossuring::cli
