// `ossuring warmup MOUNTPOINT [PATH...] [--files LIST]`: asks a running mount to fetch files
// ahead of use, with a progress bar on a terminal and plain lines otherwise.
#include <limits.h>
#include <simdjson.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "core/json.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"
#include "tools/cli/mountinfo.hh"

namespace ossuring::cli {

namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", b, units[u]);
  return buf;
}

}  // namespace

int cmd_warmup(const args& a) {
  std::string mountpoint;
  std::vector<std::string> paths;
  std::string list_file;
  bool progress = ::isatty(STDERR_FILENO);
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    if (s == "--files") {
      if (i + 1 >= a.size()) {
        std::fprintf(stderr, "ossuring warmup: --files needs a file name\n");
        return 2;
      }
      list_file = a[++i];
    } else if (s == "--no-progress") {
      progress = false;
    } else if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "ossuring warmup: unknown option %s\n", s.c_str());
      return 2;
    } else if (mountpoint.empty()) {
      mountpoint = s;
    } else {
      paths.push_back(s);
    }
  }
  if (mountpoint.empty()) {
    std::fprintf(stderr, "usage: ossuring warmup MOUNTPOINT [PATH...] [--files LIST]\n");
    return 2;
  }
  if (!list_file.empty()) {
    std::ifstream in(list_file == "-" ? "/dev/stdin" : list_file);
    if (!in) {
      std::fprintf(stderr, "ossuring warmup: cannot read %s\n", list_file.c_str());
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) {
        paths.push_back(line);
      }
    }
  }
  // The first argument may be a folder inside the mount: the daemon is the mount root's, and
  // paths are sent relative to that root.
  std::string root = absolute_path(mountpoint);
  std::string sub;  // the first argument below the root, "" at the root
  if (std::optional<mount_entry> m = ossuring_mount_containing(mountpoint)) {
    sub = root.size() > m->mount_point.size()
              ? root.substr(m->mount_point == "/" ? 1 : m->mount_point.size() + 1)
              : "";
    root = m->mount_point;
  }
  const bool whole_sub = paths.empty() && !sub.empty();
  if (whole_sub) {
    paths.push_back(sub);
  }
  std::string body = "{\"paths\":[";
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string p = paths[i];
    if (!p.empty() && p[0] == '/') {
      p = absolute_path(p);
      p = p == root ? "" : p.rfind(root + "/", 0) == 0 ? p.substr(root.size() + 1) : p;
    } else if (!sub.empty() && !whole_sub) {
      p = sub + "/" + p;
    }
    body += (i ? "," : "") + json_quote(p);
  }
  body += "]}";
  simdjson::dom::parser parser;
  int rc = 0;
  std::string last_error;
  status s =
      control_request(control_socket_path(root), "warmup " + body, [&](const std::string& line) {
        simdjson::dom::element e;
        if (parser.parse(line).get(e) != simdjson::SUCCESS) {
          return;
        }
        uint64_t files = 0, total = 0, bytes = 0, total_bytes = 0, failed = 0;
        double rate = 0;
        bool done = false;
        // Missing fields keep their zero defaults.
        auto field = [&](const char* name, auto& out) {
          if (e[name].get(out) != simdjson::SUCCESS) {
            out = {};
          }
        };
        field("files_done", files);
        field("files_total", total);
        field("bytes_done", bytes);
        field("bytes_total", total_bytes);
        field("files_failed", failed);
        field("bytes_per_second", rate);
        field("done", done);
        std::string_view err;
        if (e["error"].get(err) == simdjson::SUCCESS) {
          last_error = std::string(err);
        }
        double eta = rate > 0 && total_bytes > bytes ? (total_bytes - bytes) / rate : 0;
        if (progress) {
          int width = 30;
          int fill = total ? static_cast<int>(width * files / total) : width;
          std::fprintf(stderr, "\r[%-*s] %lu/%lu files  %s/%s  %s/s  ETA %.0fs ", width,
                       std::string(static_cast<size_t>(fill), '#').c_str(),
                       static_cast<unsigned long>(files), static_cast<unsigned long>(total),
                       human_bytes(static_cast<double>(bytes)).c_str(),
                       human_bytes(static_cast<double>(total_bytes)).c_str(),
                       human_bytes(rate).c_str(), eta);
          if (done) {
            std::fprintf(stderr, "\n");
          }
        } else {
          std::printf("files %lu/%lu bytes %lu/%lu rate %.0f B/s failed %lu%s\n",
                      static_cast<unsigned long>(files), static_cast<unsigned long>(total),
                      static_cast<unsigned long>(bytes), static_cast<unsigned long>(total_bytes),
                      rate, static_cast<unsigned long>(failed), done ? " done" : "");
          std::fflush(stdout);
        }
        if (done && failed) {
          rc = 1;
        }
      });
  if (!s.ok()) {
    std::fprintf(stderr, "ossuring warmup: %s\n",
                 explain_unreachable(root, s.err().message).c_str());
    return 1;
  }
  if (!last_error.empty()) {
    std::fprintf(stderr, "ossuring warmup: %s\n", last_error.c_str());
    return 1;
  }
  return rc;
}

}  // namespace ossuring::cli
