// `ossuring warmup`'s display (warmup_progress.hh).
#include "tools/cli/warmup_progress.hh"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tools/cli/stats_format.hh"

namespace ossuring::cli {

namespace {

std::string eta_text(const warmup_figures& f) {
  if (f.bytes_per_second <= 0 || f.bytes_total <= f.bytes_done) {
    return "ETA -";
  }
  const double s = static_cast<double>(f.bytes_total - f.bytes_done) / f.bytes_per_second;
  return "ETA " + human_duration(static_cast<uint64_t>(std::ceil(s)));
}

}  // namespace

std::string warmup_progress_line(const warmup_figures& f, unsigned width) {
  if (width < 2) {
    return "";
  }
  const size_t room = width - 1;
  // Most important first: they are kept when the line must shrink.
  std::vector<std::string> parts = {
      human_count(f.files_done) + "/" + human_count(f.files_total) + " files",
      human_bytes(f.bytes_done) + "/" + human_bytes(f.bytes_total),
      f.files_failed != 0 ? human_count(f.files_failed) + " failed" : std::string(),
      eta_text(f),
      human_bytes(static_cast<uint64_t>(f.bytes_per_second)) + "/s",
  };
  auto join = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      if (parts[i].empty()) {
        continue;
      }
      s += (s.empty() ? "" : "  ") + parts[i];
    }
    return s;
  };
  size_t n = parts.size();
  std::string text = join(n);
  while (text.size() > room && n > 1) {
    text = join(--n);
  }
  if (text.size() > room) {
    text.resize(room);
    return text;
  }
  // A bar in front when at least 8 columns are left for it (brackets and a space aside).
  const size_t left = room - text.size();
  if (left >= 11) {
    const size_t inner = std::min<size_t>(left - 3, 40);
    const double frac = f.bytes_total != 0
                            ? static_cast<double>(f.bytes_done) / static_cast<double>(f.bytes_total)
                        : f.files_total != 0
                            ? static_cast<double>(f.files_done) / static_cast<double>(f.files_total)
                            : 1.0;
    const size_t fill = std::min(inner, static_cast<size_t>(frac * static_cast<double>(inner)));
    text = "[" + std::string(fill, '#') + std::string(inner - fill, '.') + "] " + text;
  }
  return text;
}

std::string warmup_plan_text(const warmup_figures& f, const cache_figures& before) {
  if (!before.known || before.limit == 0) {
    return "";
  }
  if (f.bytes_total > before.limit) {
    const uint64_t pct = before.limit * 100 / f.bytes_total;
    return human_bytes(f.bytes_total) + " in " + human_count(f.files_total) +
           " files does not fit the cache (" + human_bytes(before.limit) + "): at most " +
           human_bytes(before.limit) + " (" + std::to_string(pct) +
           "%) stays cached; the files warmed first are evicted by the later ones, so a second "
           "warmup or a pass in the same order fetches everything again. Raise --cache-size "
           "(with --cache-dir) or --memory-limit (blobs get 3/4 of it) above " +
           human_bytes(f.bytes_total) + ", or warm a part that fits.";
  }
  // What the warmup adds: the part of it that is not cached already (a second warmup of the
  // same files adds nothing and evicts nothing).
  const uint64_t adds = f.bytes_total - std::min(f.bytes_cached, f.bytes_total);
  if (before.bytes + adds > before.limit) {
    return "the warmup fits the cache (" + human_bytes(f.bytes_total) + " of " +
           human_bytes(before.limit) + "), but up to " +
           human_bytes(before.bytes + adds - before.limit) + " of the " +
           human_bytes(before.bytes) +
           " cached now may be evicted to make room (least recently used first).";
  }
  return "";
}

std::string warmup_summary_line(const warmup_figures& f, const std::string& first_error,
                                const cache_figures& before, const cache_figures& after) {
  const double rate = f.seconds > 0 ? static_cast<double>(f.bytes_done) / f.seconds : 0;
  char secs[32];
  std::snprintf(secs, sizeof(secs), f.seconds < 10 ? "%.1f s" : "%.0f s", f.seconds);
  std::string s = "warmup done: files " + std::to_string(f.files_done) + "/" +
                  std::to_string(f.files_total) + ", " + human_bytes(f.bytes_done) + " in " +
                  (f.seconds >= 60 ? human_duration(static_cast<uint64_t>(f.seconds)) : secs) +
                  " (" + human_bytes(static_cast<uint64_t>(rate)) + "/s), ";
  if (after.known) {
    s += "cache " + human_bytes(after.bytes) +
         (after.limit ? " of " + human_bytes(after.limit) : std::string()) + " (" +
         human_count(after.blobs) + " blobs";
    if (before.known && after.evictions > before.evictions) {
      s += ", " + human_count(after.evictions - before.evictions) + " evicted";
    }
    s += "), ";
  }
  s += std::to_string(f.files_failed) + " failed";
  if (!first_error.empty()) {
    s += " (first: " + first_error + ")";
  }
  return s;
}

unsigned terminal_width(int fd) {
  if (const char* c = std::getenv("COLUMNS")) {
    char* end = nullptr;
    long v = std::strtol(c, &end, 10);
    if (end != c && *end == '\0' && v > 0 && v < 10000) {
      return static_cast<unsigned>(v);
    }
  }
  struct winsize ws {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 80;
}

}  // namespace ossuring::cli
