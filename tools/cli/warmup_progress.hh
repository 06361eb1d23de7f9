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
  uint64_t files_failed = 0;
  double bytes_per_second = 0;
  double seconds = 0;  // since the warmup started
  bool done = false;
};

// The progress line, at most `width` - 1 columns (the last column would make some terminals
// wrap): a bar when there is room, then files, bytes, rate, ETA and failures; the least
// important parts are dropped first when the terminal is narrow. No "\r", no newline.
std::string warmup_progress_line(const warmup_figures& f, unsigned width);

// "warmup done: files 10/10, 1.50 MiB in 2 s (768 KiB/s), 0 failed" (+ the first error).
std::string warmup_summary_line(const warmup_figures& f, const std::string& first_error);

// The width of the terminal on `fd`: $COLUMNS when set to a number, else TIOCGWINSZ, else 80.
unsigned terminal_width(int fd);

}  // namespace ossuring::cli
