// blob_bench: the blob store at dataset scale, without FUSE or the network. Stores N blobs of
// S bytes in the memory store (or a cache folder with --dir), finds them all again, and prints
// stores/s, finds/s, bookkeeping and resident bytes per blob beyond the blobs' own bytes, and
// the descriptors held; then the cost of a passthrough memfd made at open (fd() of a memory
// blob) against a plain read of the blob. Used by tools/bench/blob_cache.py.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fs/cache/blob_store.hh"
#include "tests/fs/blob_store_util.hh"  // descriptors and resident bytes, as the tests count them

using namespace ossuring;
using test::open_descriptors;
using test::resident_bytes;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t) {
  return std::chrono::duration<double>(clk::now() - t).count();
}

std::string id_of(uint64_t i, uint64_t size) {
  char etag[40];
  std::snprintf(etag, sizeof etag, "\"%032llx\"", static_cast<unsigned long long>(i * 7919));
  return fs::blob_store::blob_id(etag, size);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t count = 1'000'000;
  uint64_t size = 1024;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--count") {
      count = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (a == "--size") {
      size = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (a == "--dir") {
      dir = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: blob_bench [--count N] [--size BYTES] [--dir FOLDER]\n");
      return 2;
    }
  }
  const size_t fds = open_descriptors();
  const uint64_t rss0 = resident_bytes();
  std::unique_ptr<fs::blob_store> store;
  if (dir.empty()) {
    store = std::make_unique<fs::memory_blob_store>(count * size + (64 << 20));
  } else {
    store = std::make_unique<fs::directory_blob_store>(dir, count * size + (64 << 20));
  }
  std::vector<std::byte> data(size);
  auto t = clk::now();
  for (uint64_t i = 0; i < count; ++i) {
    std::memcpy(data.data(), &i, std::min<size_t>(sizeof i, size));
    std::vector<std::byte> copy = data;
    if (!store->store(id_of(i, size), std::move(copy)).ok()) {
      std::fprintf(stderr, "store %llu failed\n", static_cast<unsigned long long>(i));
      return 1;
    }
  }
  const double store_s = seconds_since(t);
  const uint64_t rss1 = resident_bytes();
  const size_t fds_after = open_descriptors();
  t = clk::now();
  uint64_t hits = 0;
  std::vector<std::byte> out(size);
  for (uint64_t i = 0; i < count; ++i) {
    if (auto b = store->find(id_of(i, size))) {
      hits += b->read(0, out).ok();
    }
  }
  const double find_s = seconds_since(t);
  const fs::blob_store_stats st = store->stats();
  std::printf("blobs %llu of %llu B (%s): store %.0f/s, find+read %.0f/s, hits %llu\n",
              static_cast<unsigned long long>(st.blobs), static_cast<unsigned long long>(size),
              dir.empty() ? "memory" : "directory", count / store_s, count / find_s,
              static_cast<unsigned long long>(hits));
  const double data_bytes = dir.empty() ? static_cast<double>(st.slot_bytes) : 0.0;
  std::printf(
      "bookkeeping %.1f B/blob, resident beyond the slots %.1f B/blob, slot rounding %.1f%%\n",
      static_cast<double>(st.index_bytes) / count,
      (static_cast<double>(rss1) - static_cast<double>(rss0) - data_bytes) / count,
      dir.empty() ? 100.0 * (static_cast<double>(st.slot_bytes) / (count * size) - 1) : 0.0);
  std::printf("descriptors: %zu before, %zu after storing, %llu held by the store\n", fds,
              fds_after, static_cast<unsigned long long>(st.descriptors));
  // A passthrough open of a memory blob: a sealed memfd copy made at open, closed at release.
  if (dir.empty()) {
    const uint64_t n = std::min<uint64_t>(count, 20000);
    t = clk::now();
    for (uint64_t i = 0; i < n; ++i) {
      auto b = store->find(id_of(i, size));
      if (b->fd() < 0) {
        std::fprintf(stderr, "no memfd\n");
        return 1;
      }
    }
    const double memfd_s = seconds_since(t);
    t = clk::now();
    for (uint64_t i = 0; i < n; ++i) {
      auto b = store->find(id_of(i, size));
      (void)b->read(0, out);
    }
    const double read_s = seconds_since(t);
    std::printf("passthrough memfd per open: %.2f us (find + read instead: %.2f us)\n",
                memfd_s / n * 1e6, read_s / n * 1e6);
  }
  return hits == count ? 0 : 1;
}
