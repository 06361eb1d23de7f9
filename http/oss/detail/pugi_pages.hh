// Per-thread recycling of pugixml's memory pages, installed for the whole process by xml.cc.
//
// A 1,000-key listing page builds a DOM of ~14 pages of 32 KiB, freed as soon as the listing is
// read. Handed back to glibc, those ~450 KiB sit at the top of the heap, above the trim
// threshold that glibc derives from the largest block it has seen (twice the ~220 KB response
// body), so it returned them to the kernel and every page faulted them back in: 23x the page
// faults and twice the CPU of the parse itself (build/tools/bench/oss_bench). Pages of the
// usual size are kept on a free list per thread instead, up to 4 MiB; other sizes (a text
// longer than a page) go to malloc. pugixml's deallocation gets no size, so each block carries
// it in a header. A block freed on another thread joins that thread's list.
//
// Under AddressSanitizer the cache is bypassed so that a use of a freed page is still caught.
#pragma once

#include <cstddef>

namespace ossuring::oss::detail {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool pugi_pages_enabled = false;
#else
inline constexpr bool pugi_pages_enabled = true;
#endif

// The most pages one thread keeps (4 MiB).
inline constexpr size_t pugi_max_cached_pages = 128;

// Installs the functions into pugixml. Must run before pugixml allocates anything (xml.cc calls
// it from a static initializer): a block from plain malloc has no header.
void install_pugi_pages();

// Pages held on this thread's free list (for tests).
size_t pugi_cached_pages();

}  // namespace ossuring::oss::detail
