// Per-thread recycling of coroutine frames: task<T>'s promise allocates through it.
//
// A request through the OSS client runs about ten coroutines, each a heap frame of a few hundred
// bytes to a few KiB; at 100k requests/s glibc's slow paths (bins beyond the tcache, which holds
// seven blocks per size up to 1 KiB) showed as a tenth of the client's CPU. Frames are rounded
// to 64-byte classes up to 4 KiB and kept on a free list per class, up to 4 MiB per thread;
// larger frames and anything past the cap go to operator new/delete. A frame may be freed on
// another thread than the one that made it (work handed between reactors): it then joins that
// thread's lists, which is fine for memory that came from operator new.
//
// Under AddressSanitizer the pool is bypassed so that a use of a destroyed frame is still caught.
#pragma once

#include <array>
#include <cstddef>
#include <new>

namespace ossuring::detail {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool frame_pool_enabled = false;
#else
inline constexpr bool frame_pool_enabled = true;
#endif

class frame_pool {
 public:
  static constexpr size_t granule = 64;
  static constexpr size_t max_frame = 4096;
  static constexpr size_t max_cached_bytes = 4u << 20;

  static void* allocate(size_t n) {
    state& s = local();
    size_t cls = class_of(n);
    if (cls != 0 && !s.drained) {
      if (node* f = s.free[cls - 1]) {
        s.free[cls - 1] = f->next;
        s.cached_bytes -= cls * granule;
        return f;
      }
      return ::operator new(cls* granule);
    }
    return ::operator new(n);
  }

  static void deallocate(void* p, size_t n) noexcept {
    state& s = local();
    size_t cls = class_of(n);
    if (cls != 0 && !s.drained && s.cached_bytes + cls * granule <= max_cached_bytes) {
      node* f = static_cast<node*>(p);
      f->next = s.free[cls - 1];
      s.free[cls - 1] = f;
      s.cached_bytes += cls * granule;
      return;
    }
    ::operator delete(p);
  }

  // Bytes held on this thread's free lists (for tests).
  static size_t cached_bytes() { return local().cached_bytes; }

 private:
  struct node {
    node* next;
  };
  static constexpr size_t classes = max_frame / granule;

  // Trivially destructible, so it stays usable after the thread's destructors ran; `drained`
  // then sends every later frame straight to operator new/delete.
  struct state {
    std::array<node*, classes> free{};
    size_t cached_bytes = 0;
    bool drained = false;
  };
  struct drainer {
    ~drainer() {
      state& s = local();
      s.drained = true;
      for (node*& head : s.free) {
        while (head != nullptr) {
          node* next = head->next;
          ::operator delete(head);
          head = next;
        }
      }
      s.cached_bytes = 0;
    }
  };

  // 0 for sizes the pool does not keep.
  static size_t class_of(size_t n) {
    if (!frame_pool_enabled || n == 0 || n > max_frame) {
      return 0;
    }
    return (n + granule - 1) / granule;
  }

  static state& local() {
    thread_local state s;
    thread_local drainer d;  // constructed after `s`, so destroyed before it
    (void)d;
    return s;
  }
};

}  // namespace ossuring::detail
