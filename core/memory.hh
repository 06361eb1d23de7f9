// The allocator's settings for a process that allocates and frees large buffers at a high rate.
#pragma once

#include <cstddef>

namespace ossuring {

// What tune_malloc left in force.
struct malloc_settings {
  bool applied = false;       // false: GLIBC_TUNABLES names a malloc threshold; glibc's own rule
  size_t mmap_threshold = 0;  // blocks at least this large are mmapped (0: not changed here)
  size_t trim_threshold = 0;  // free heap above this is returned to the kernel (0: not changed)
};

// The largest mmap threshold glibc accepts on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX); mallopt refuses
// more.
inline constexpr size_t malloc_mmap_threshold = 32u << 20;
inline constexpr size_t malloc_trim_threshold = 64u << 20;

// Keeps blocks of up to 32 MiB on the heap and up to 64 MiB of freed heap in the process.
//
// Why: glibc's default mmaps blocks over 128 KiB and raises that bar to the size of the last such
// block freed, but then trims the heap's top whenever more than twice that is free. A listing
// page (~220 KB of XML) or a GET body is allocated and freed per request, so with many requests
// in flight the heap grows and shrinks around them: each page came back from the kernel as fresh
// zeroed memory, 400,000 page faults in 4 s of listing, a quarter of the client's CPU per page
// (docs/benchmarks.md, "Allocator thresholds").
//
// `glibc_tunables` is the environment's GLIBC_TUNABLES: when it names glibc.malloc.mmap_threshold
// or glibc.malloc.trim_threshold the user has chosen, and nothing is changed. Call once, first
// thing in main, before other threads exist.
malloc_settings tune_malloc(const char* glibc_tunables);

}  // namespace ossuring
