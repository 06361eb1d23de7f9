// `ossuring warmup`'s display: one progress line that fits the terminal (files, bytes, rate,
// ETA, failures), and the summary line printed at the end.
#pragma once

#include <cstdint>
#include <string>

namespace ossuring::cli {

struct warmup_figures {
  uint64_t files_done = 0;
  uint64_t files_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_cached = 0;  // of bytes_total, cached before the warmup started
  uint64_t files_failed = 0;
  double bytes_per_second = 0;
  double seconds = 0;  // since the warmup started
  bool done = false;
};

// The blob cache as `stats` reports it (cache.limit, .bytes, .blobs, .evictions), before and
// after a warmup.
struct cache_figures {
  bool known = false;  // the daemon answered
  uint64_t limit = 0;  // 0 = unlimited
  uint64_t bytes = 0;
  uint64_t blobs = 0;
  uint64_t evictions = 0;
};

// Said before the first GET when the warmup will not stick: the data set is larger than the
// cache (how much stays, that the first files warmed are evicted by the last), or fits but
// pushes out other cached blobs. "" when everything fits beside what is cached.
std::string warmup_plan_text(const warmup_figures& f, const cache_figures& before);

// The progress line, at most `width` - 1 columns (the last column would make some terminals
// wrap): a bar when there is room, then files, bytes, rate, ETA and failures; the least
// important parts are dropped first when the terminal is narrow. No "\r", no newline.
std::string warmup_progress_line(const warmup_figures& f, unsigned width);

// "warmup done: files 10/10, 1.50 MiB in 2 s (768 KiB/s), 0 failed" (+ the first error), and
// with `after` known, what the cache holds: ", cache 1.50 MiB of 768 MiB (10 blobs)" before the
// failures, plus ", 12 evicted" when the warmup evicted blobs.
std::string warmup_summary_line(const warmup_figures& f, const std::string& first_error,
                                const cache_figures& before = {}, const cache_figures& after = {});

// The width of the terminal on `fd`: $COLUMNS when set to a number, else TIOCGWINSZ, else 80.
unsigned terminal_width(int fd);

}  // namespace ossuring::cli
