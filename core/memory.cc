// Allocator thresholds for the daemon and tools (see core/memory.hh).
#include "core/memory.hh"

#include <malloc.h>

#include <string_view>

namespace ossuring {

malloc_settings tune_malloc(const char* glibc_tunables) {
  std::string_view t = glibc_tunables != nullptr ? glibc_tunables : "";
  if (t.find("glibc.malloc.mmap_threshold") != std::string_view::npos ||
      t.find("glibc.malloc.trim_threshold") != std::string_view::npos) {
    return {};
  }
  malloc_settings s;
  // Each call also turns off glibc's moving thresholds, so both are set, mmap's first: a trim
  // threshold alone would pin the mmap threshold at its 128 KiB start.
  if (::mallopt(M_MMAP_THRESHOLD, static_cast<int>(malloc_mmap_threshold)) == 1) {
    s.mmap_threshold = malloc_mmap_threshold;
  }
  if (::mallopt(M_TRIM_THRESHOLD, static_cast<int>(malloc_trim_threshold)) == 1) {
    s.trim_threshold = malloc_trim_threshold;
  }
  s.applied = s.mmap_threshold != 0 && s.trim_threshold != 0;
  return s;
}

}  // namespace ossuring
