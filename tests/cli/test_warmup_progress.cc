// `ossuring warmup`'s progress line fits the terminal; the summary says what happened.
#include "tools/cli/warmup_progress.hh"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <string>

using namespace ossuring::cli;

namespace {

warmup_figures halfway() {
  warmup_figures f;
  f.files_done = 1234;
  f.files_total = 5000;
  f.bytes_done = 600ull << 20;
  f.bytes_total = 1200ull << 20;
  f.files_failed = 3;
  f.bytes_per_second = 20ull << 20;
  f.seconds = 30;
  return f;
}

}  // namespace

TEST_CASE("the progress line never reaches the terminal's last column, whatever its width") {
  const warmup_figures f = halfway();
  for (unsigned width = 2; width <= 200; ++width) {
    CAPTURE(width);
    const std::string line = warmup_progress_line(f, width);
    CHECK(line.size() <= width - 1);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
  }
}

TEST_CASE("on 80 columns the line shows a bar, files, bytes, failures, ETA and rate") {
  const std::string line = warmup_progress_line(halfway(), 80);
  CAPTURE(line);
  CHECK(line.size() <= 79);
  CHECK(line.rfind("[", 0) == 0);
  CHECK(line.find("1,234/5,000 files") != std::string::npos);
  CHECK(line.find("600 MiB/1.17 GiB") != std::string::npos);
  CHECK(line.find("3 failed") != std::string::npos);
  CHECK(line.find("ETA 30 s") != std::string::npos);
  CHECK(line.find("20.0 MiB/s") != std::string::npos);
}

TEST_CASE("a narrow terminal drops the bar first, then rate and ETA, keeping the file count") {
  const std::string line = warmup_progress_line(halfway(), 40);
  CAPTURE(line);
  CHECK(line.find('[') == std::string::npos);
  CHECK(line.find("1,234/5,000 files") == 0);
  CHECK(line.find("MiB/s") == std::string::npos);
}

TEST_CASE("the summary names files, bytes, time, rate, failures and the first error") {
  warmup_figures f = halfway();
  f.files_done = 4997;
  f.files_total = 5000;
  f.bytes_done = 1200ull << 20;
  f.seconds = 60;
  f.done = true;
  const std::string s = warmup_summary_line(f, "a/b.jpg: Input/output error");
  CHECK(s ==
        "warmup done: files 4997/5000, 1.17 GiB in 1 min 0 s (20.0 MiB/s), 3 failed "
        "(first: a/b.jpg: Input/output error)");
  f.files_failed = 0;
  f.seconds = 2.5;
  CHECK(warmup_summary_line(f, "") ==
        "warmup done: files 4997/5000, 1.17 GiB in 2.5 s (480 MiB/s), 0 failed");
}

TEST_CASE("the summary says what the cache holds and what the warmup evicted") {
  warmup_figures f = halfway();
  f.files_done = f.files_total = 5000;
  f.files_failed = 0;
  f.bytes_done = 1200ull << 20;
  f.seconds = 2.5;
  cache_figures before{true, 768ull << 20, 0, 0, 3};
  cache_figures after{true, 768ull << 20, 600ull << 20, 4000, 1003};
  CHECK(warmup_summary_line(f, "", before, after) ==
        "warmup done: files 5000/5000, 1.17 GiB in 2.5 s (480 MiB/s), cache 600 MiB of 768 MiB "
        "(4,000 blobs, 1,000 evicted), 0 failed");
}

TEST_CASE("a warmup larger than the cache is said before it starts, one that fits is not") {
  warmup_figures f;
  f.files_total = 20000;
  f.bytes_total = 1200ull << 20;
  const cache_figures cache{true, 576ull << 20, 0, 0, 0};
  const std::string plan = warmup_plan_text(f, cache);
  CHECK(plan.find("1.17 GiB in 20,000 files does not fit the cache (576 MiB)") == 0);
  CHECK(plan.find("at most 576 MiB (48%) stays cached") != std::string::npos);
  CHECK(plan.find("fetches everything again") != std::string::npos);
  f.bytes_total = 304ull << 20;
  CHECK(warmup_plan_text(f, cache).empty());
  const cache_figures full{true, 576ull << 20, 500ull << 20, 9000, 0};
  CHECK(warmup_plan_text(f, full).find("up to 228 MiB of the 500 MiB cached now may be evicted") !=
        std::string::npos);
  // A second warmup of files already cached adds nothing: no eviction to announce.
  f.bytes_cached = f.bytes_total;
  CHECK(warmup_plan_text(f, full).empty());
  // Half of it cached: only the other half makes room.
  f.bytes_cached = f.bytes_total / 2;
  CHECK(warmup_plan_text(f, full).find("up to 76.0 MiB of the 500 MiB cached now") !=
        std::string::npos);
  f.bytes_cached = 0;
  CHECK(warmup_plan_text(f, cache_figures{}).empty());  // the daemon did not say
}

TEST_CASE("the terminal width comes from COLUMNS first") {
  ::setenv("COLUMNS", "123", 1);
  CHECK(terminal_width(-1) == 123);
  ::setenv("COLUMNS", "junk", 1);
  CHECK(terminal_width(-1) == 80);  // not a terminal, no usable COLUMNS
  ::unsetenv("COLUMNS");
  CHECK(terminal_width(-1) == 80);
}
