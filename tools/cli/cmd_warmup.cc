// `ossuring warmup MOUNTPOINT [PATH...] [--files LIST]`: asks a running mount to fetch files
// ahead of use. On a terminal one progress line that fits its width is redrawn on stderr;
// elsewhere (and with --no-progress) nothing until the summary line on stdout; --json prints
// the daemon's JSON progress lines instead, the last with "done":true.
//
// The warmup tells the truth about the cache: the blob cache's figures are asked for before and
// after (the `stats` command); a data set that will not stick (larger than the budget) is said on
// stderr as soon as its size is known, and the summary says what the cache holds at the end.
#include <limits.h>
#include <simdjson.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "core/json.hh"
#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"
#include "tools/cli/mountinfo.hh"
#include "tools/cli/warmup_progress.hh"

namespace ossuring::cli {

namespace {

// The blob cache's figures from the daemon's stats document; unknown when it does not answer.
cache_figures cache_now(const std::string& socket) {
  cache_figures c;
  simdjson::dom::parser parser;
  std::string doc;
  status s = control_request(socket, "stats", [&](const std::string& line) { doc += line; });
  simdjson::dom::element cache;
  if (!s.ok() || parser.parse(doc).get(cache) != simdjson::SUCCESS ||
      cache["cache"].get(cache) != simdjson::SUCCESS) {
    return c;
  }
  c.known = cache["limit"].get(c.limit) == simdjson::SUCCESS &&
            cache["bytes"].get(c.bytes) == simdjson::SUCCESS &&
            cache["blobs"].get(c.blobs) == simdjson::SUCCESS;
  if (cache["evictions"].get(c.evictions) != simdjson::SUCCESS) {
    c.evictions = 0;
  }
  return c;
}

}  // namespace

int cmd_warmup(const args& given) {
  args a = given;
  result<std::string> socket = take_control_socket(a);
  if (!socket.ok()) {
    std::fprintf(stderr, "ossuring warmup: %s\n", socket.err().message.c_str());
    return 2;
  }
  std::string mountpoint;
  std::vector<std::string> paths;
  std::string list_file;
  bool progress = ::isatty(STDERR_FILENO) != 0;
  bool json = false;
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
    } else if (s == "--json") {
      json = true;
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
    std::fprintf(
        stderr,
        "usage: ossuring warmup MOUNTPOINT [PATH...] [--files LIST] [--no-progress|--json]\n");
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
  if (json) {
    progress = false;
  }
  const unsigned width = progress ? terminal_width(STDERR_FILENO) : 0;
  const auto started = std::chrono::steady_clock::now();
  simdjson::dom::parser parser;
  int rc = 0;
  std::string last_error;
  std::string first_failure;
  warmup_figures fig;
  bool finished = false;
  bool drawn = false;
  bool planned = false;
  const std::string path = socket->empty() ? control_socket_path(root) : *socket;
  const cache_figures before = json ? cache_figures{} : cache_now(path);
  status s = control_request(path, "warmup " + body, [&](const std::string& line) {
    if (json) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
    simdjson::dom::element e;
    if (parser.parse(line).get(e) != simdjson::SUCCESS) {
      return;
    }
    // Missing fields keep their zero defaults.
    auto field = [&](const char* name, auto& out) {
      if (e[name].get(out) != simdjson::SUCCESS) {
        out = {};
      }
    };
    field("files_done", fig.files_done);
    field("files_total", fig.files_total);
    field("bytes_done", fig.bytes_done);
    field("bytes_total", fig.bytes_total);
    field("bytes_cached", fig.bytes_cached);
    field("files_failed", fig.files_failed);
    uint64_t rate = 0;
    field("bytes_per_second", rate);
    fig.bytes_per_second = static_cast<double>(rate);
    field("done", fig.done);
    fig.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string_view err;
    if (e["error"].get(err) == simdjson::SUCCESS) {
      last_error = std::string(err);
    }
    if (e["first_error"].get(err) == simdjson::SUCCESS) {
      first_failure = std::string(err);
    }
    if (!planned && last_error.empty() && (fig.files_total != 0 || fig.done)) {
      // The totals are known with the first line (the daemon lists before it fetches).
      planned = true;
      if (std::string plan = warmup_plan_text(fig, before); !plan.empty()) {
        std::fprintf(stderr, "%sossuring warmup: %s\n", drawn ? "\r\x1b[K" : "", plan.c_str());
      }
    }
    if (progress && !fig.done && last_error.empty()) {
      // \r and "erase to the end of the line": one row, redrawn in place.
      std::fprintf(stderr, "\r%s\x1b[K", warmup_progress_line(fig, width).c_str());
      std::fflush(stderr);
      drawn = true;
    }
    if (fig.done) {
      finished = last_error.empty();
      if (fig.files_failed != 0) {
        rc = 1;
      }
    }
  });
  if (drawn) {
    std::fprintf(stderr, "\r\x1b[K");  // the summary replaces the bar
    std::fflush(stderr);
  }
  if (finished && !json) {
    const cache_figures after = cache_now(path);
    std::printf("%s\n", warmup_summary_line(fig, first_failure, before, after).c_str());
  }
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
