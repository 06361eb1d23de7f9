// pugixml's page allocator: a per-thread free list of 32 KiB pages (see detail/pugi_pages.hh).
#include "http/oss/detail/pugi_pages.hh"

#include <cstdlib>
#include <new>
#include <pugixml.hpp>

namespace ossuring::oss::detail {

namespace {

constexpr size_t page_bytes = 32768;  // PUGIXML_MEMORY_PAGE_SIZE, what pugixml asks for
// The size header; 16 bytes keep the block as aligned as malloc's.
constexpr size_t header = 16;

struct page_list {
  struct node {
    node* next;
  };
  node* head = nullptr;
  size_t count = 0;

  ~page_list() {
    while (head != nullptr) {
      node* n = head;
      head = n->next;
      std::free(n);
    }
  }
};

page_list& local() {
  thread_local page_list list;
  return list;
}

void* allocate(size_t n) {
  page_list& l = local();
  void* block = nullptr;
  if (n == page_bytes && l.head != nullptr) {
    block = l.head;
    l.head = l.head->next;
    --l.count;
  } else {
    block = std::malloc(header + n);
    if (block == nullptr) {
      return nullptr;  // pugixml reports out-of-memory
    }
  }
  *static_cast<size_t*>(block) = n;
  return static_cast<char*>(block) + header;
}

void deallocate(void* p) {
  if (p == nullptr) {
    return;
  }
  void* block = static_cast<char*>(p) - header;
  page_list& l = local();
  if (*static_cast<size_t*>(block) == page_bytes && l.count < pugi_max_cached_pages) {
    auto* n = static_cast<page_list::node*>(block);
    n->next = l.head;
    l.head = n;
    ++l.count;
    return;
  }
  std::free(block);
}

}  // namespace

void install_pugi_pages() {
  if (pugi_pages_enabled) {
    pugi::set_memory_management_functions(allocate, deallocate);
  }
}

size_t pugi_cached_pages() {
  return local().count;
}

}  // namespace ossuring::oss::detail
