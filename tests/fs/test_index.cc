// Index: building from shuffled pages, odd keys, lookup/readdir order, memory budget, file format.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <coroutine>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <tuple>

#include "fs/filesystem.hh"
#include "fs/index.hh"
#include "fs/meta/index_meta.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;

namespace {

std::vector<std::string> children(const fs::index& idx, uint64_t dir) {
  std::vector<std::string> v;
  for (uint32_t i = 0; i < idx.child_count(dir); ++i) {
    v.emplace_back(idx.name(idx.first_child(dir) + i));
  }
  return v;
}

uint64_t walk(const fs::index& idx, std::string_view path) {
  uint64_t ino = fs::index::root_ino;
  while (!path.empty()) {
    size_t s = path.find('/');
    auto c = idx.lookup(ino, path.substr(0, s));
    if (!c) {
      return 0;
    }
    ino = *c;
    path = s == std::string_view::npos ? std::string_view{} : path.substr(s + 1);
  }
  return ino;
}

}  // namespace

TEST_CASE("index built from shuffled, duplicated pages equals the one built in order") {
  std::vector<std::string> keys;
  for (int d = 0; d < 20; ++d) {
    for (int f = 0; f < 150; ++f) {
      keys.push_back("p/d" + std::to_string(d) + "/f" + std::to_string(f));
    }
  }
  keys.push_back("p/top.txt");
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());

  index_builder in_order("p/");
  for (const auto& k : sorted) {
    in_order.add(k, k.size(), 1000, "", "");
  }
  fs::index a = std::move(in_order).finish(5);

  std::mt19937 rng(42);
  std::vector<std::string> shuffled = keys;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  index_builder mixed("p/");
  for (size_t i = 0; i < shuffled.size(); ++i) {
    mixed.add(shuffled[i], shuffled[i].size(), 1000, "", "");
    if (i % 7 == 0) {
      mixed.add(shuffled[i], shuffled[i].size(), 1000, "", "");  // overlapping listings
    }
  }
  mixed.add("q/outside", 1, 1, "", "");  // outside the mount prefix: ignored
  fs::index b = std::move(mixed).finish(5);

  CHECK(b.stats().duplicates > 0);
  CHECK(a.node_count() == b.node_count());
  CHECK(b.stats().objects == keys.size());
  CHECK(b.stats().directories == 21);
  for (const auto& k : keys) {
    std::string rel = k.substr(2);
    uint64_t ia = walk(a, rel);
    uint64_t ib = walk(b, rel);
    REQUIRE(ia != 0);
    CHECK(ia == ib);  // identical layout: inode numbers do not depend on page order
    CHECK(b.size(ib) == k.size());
    CHECK(b.path(ib) == rel);
  }
  CHECK(walk(b, "outside") == 0);
}

TEST_CASE("pages from parallel listings, in any order, build the index keys sorted would") {
  // Byte order is the listing's; the index's puts '/' first. With and without names where the
  // two differ ("d1-x" sorts before "d1/" in bytes, after it in the index).
  for (bool conflicting : {false, true}) {
    CAPTURE(conflicting);
    std::vector<std::string> keys;
    for (int d = 0; d < 30; ++d) {
      for (int f = 0; f < 40; ++f) {
        keys.push_back("p/d" + std::to_string(d) + "/f" + std::to_string(f));
      }
      if (conflicting) {
        keys.push_back("p/d" + std::to_string(d) + "-x/f");
        keys.push_back("p/d" + std::to_string(d) + ".txt");
      }
    }
    std::sort(keys.begin(), keys.end());  // byte order, as LIST returns them
    index_builder sorted("p/");
    for (const auto& k : keys) {
      sorted.add(k, k.size(), 1000, "", "");
    }
    fs::index a = std::move(sorted).finish(5);
    // Pages of 100 keys from disjoint ranges, arriving in a shuffled order.
    std::vector<size_t> pages;
    for (size_t i = 0; i < keys.size(); i += 100) {
      pages.push_back(i);
    }
    std::mt19937 rng(7);
    std::shuffle(pages.begin(), pages.end(), rng);
    index_builder mixed("p/");
    for (size_t first : pages) {
      mixed.start_run();
      for (size_t i = first; i < std::min(first + 100, keys.size()); ++i) {
        mixed.add(keys[i], keys[i].size(), 1000, "", "");
      }
    }
    fs::index b = std::move(mixed).finish(5);
    CHECK(b.stats().sorted_keys == conflicting);  // pages ordered, keys sorted only if needed
    REQUIRE(a.node_count() == b.node_count());
    for (const auto& k : keys) {
      const uint64_t ia = walk(a, k.substr(2));
      REQUIRE(ia != 0);
      CHECK(walk(b, k.substr(2)) == ia);
    }
    // Siblings in the index's order: "d1" (a directory) before "d1-x" and "d1.txt".
    const auto top = children(b, fs::index::root_ino);
    CHECK(std::is_sorted(top.begin(), top.end(),
                         [](const std::string& x, const std::string& y) { return x < y; }));
  }
}

TEST_CASE("two builds of the same listing at different times have the same entries") {
  auto build = [](int64_t when, int64_t marker_mtime) {
    index_builder b("p/");
    b.add("p/d/", 0, marker_mtime, "", "");  // a directory with its marker object
    b.add("p/d/f", 3, 1000, "", "");
    b.add("p/plain/g", 4, 1000, "", "");  // a directory only implied by its keys
    return std::move(b).finish(when);
  };
  // The root and "plain" show the build's time: that alone is no change.
  CHECK(build(5, 700).same_entries(build(5000, 700)));
  // A marker's own time is the bucket's: a new one is.
  CHECK_FALSE(build(5, 700).same_entries(build(5, 800)));
}

TEST_CASE("readdir order is bytewise by name, directories interleaved with files") {
  index_builder bld("");
  for (const char* k : {"a-x", "a/1", "ab", "a.txt", "B", "a/0", "\xc3\xa9t\xc3\xa9"}) {
    bld.add(k, 1, 1, "", "");
  }
  fs::index idx = std::move(bld).finish(1);
  CHECK(children(idx, fs::index::root_ino) ==
        std::vector<std::string>{"B", "a", "a-x", "a.txt", "ab", "\xc3\xa9t\xc3\xa9"});
  uint64_t a = *idx.lookup(fs::index::root_ino, "a");
  CHECK(idx.is_dir(a));
  CHECK(children(idx, a) == std::vector<std::string>{"0", "1"});
  CHECK(idx.parent(a) == fs::index::root_ino);
  CHECK_FALSE(idx.lookup(fs::index::root_ino, "zzz"));
  CHECK_FALSE(idx.lookup(idx.first_child(a), "x"));  // a file has no children
}

TEST_CASE("odd keys follow one rule: skipped, counted, first one remembered") {
  index_builder bld("");
  std::string long_name(256, 'x');
  std::vector<std::string> bad = {"a//b", "./x", "a/../b", "/lead", "d/" + long_name, "e//"};
  for (const auto& k : bad) {
    bld.add(k, 1, 1, "", "");
  }
  bld.add("ok/" + std::string(255, 'y'), 1, 1, "", "");  // 255 bytes is fine
  fs::index idx = std::move(bld).finish(1);
  CHECK(idx.stats().skipped_keys == bad.size());
  CHECK(idx.stats().first_skipped == "a//b");
  CHECK(idx.stats().objects == 1);
  CHECK(walk(idx, "ok/" + std::string(255, 'y')) != 0);
  CHECK_FALSE(idx.lookup(fs::index::root_ino, "a"));  // nothing of a skipped key leaks in
}

TEST_CASE("directory markers, implicit directories and a key that is both object and prefix") {
  index_builder bld("");
  bld.add("m/", 0, 777, "D41D8CD98F00B204E9800998ECF8427E", "");
  bld.add("m/f", 3, 10, "", "");
  bld.add("empty/", 0, 888, "", "");
  bld.add("both", 5, 11, "", "");
  bld.add("both/inner", 6, 12, "", "");
  bld.add("implicit/deep/file", 7, 13, "", "");
  fs::index idx = std::move(bld).finish(999);
  uint64_t m = walk(idx, "m");
  CHECK(idx.is_dir(m));
  CHECK(idx.has_marker(m));
  CHECK(idx.mtime(m) == 777);
  uint64_t e = walk(idx, "empty");
  CHECK(idx.is_dir(e));
  CHECK(idx.child_count(e) == 0);
  uint64_t both = walk(idx, "both");
  CHECK(idx.is_dir(both));  // the directory wins over the object "both"
  CHECK(walk(idx, "both/inner") != 0);
  CHECK(idx.stats().shadowed_files == 1);
  CHECK(idx.stats().markers == 2);
  uint64_t imp = walk(idx, "implicit");
  CHECK(idx.is_dir(imp));
  CHECK_FALSE(idx.has_marker(imp));
  CHECK(idx.mtime(imp) == 999);  // implicit directories carry the build time
}

TEST_CASE("ETags: MD5 hex kept as 16 bytes in its case, multipart ETags as strings") {
  index_builder bld("");
  bld.add("u", 1, 1, "5EB63BBBE01EEED093CB22BB8F5ACDC3", "IA");
  bld.add("l", 1, 1, "5eb63bbbe01eeed093cb22bb8f5acdc3", "");
  bld.add("mp", 1, 1, "3858F62230AC3C915F300C664312C63F-3", "Archive");
  bld.add("none", 1, 1, "", "");
  // 32 characters that are not one MD5 hex of one case stay text, byte for byte: both cases
  // mixed, and each byte next to the hex ranges ('/', ':', '@', 'G', '`', 'g', 0xff).
  const std::vector<std::string> odd = {
      "5eb63bbbe01eeed093cb22bb8f5acdC3", "5eb63bbbe01eeed093cb22bb8f5acd/3",
      "5eb63bbbe01eeed093cb22bb8f5acd:3", "@eb63bbbe01eeed093cb22bb8f5acdc3",
      "5EB63BBBE01EEED093CB22BB8F5ACDCG", "`eb63bbbe01eeed093cb22bb8f5acdc3",
      "5eb63bbbe01eeed093cb22bb8f5acdcg", "5eb63bbbe01eeed093cb22bb8f5acdc\xff"};
  for (size_t i = 0; i < odd.size(); ++i) {
    bld.add("odd" + std::to_string(i), 1, 1, odd[i], "");
  }
  fs::index idx = std::move(bld).finish(1);
  for (size_t i = 0; i < odd.size(); ++i) {
    CHECK(idx.etag(walk(idx, "odd" + std::to_string(i))) == odd[i]);
  }
  CHECK(idx.etag(walk(idx, "u")) == "5EB63BBBE01EEED093CB22BB8F5ACDC3");
  CHECK(idx.etag(walk(idx, "l")) == "5eb63bbbe01eeed093cb22bb8f5acdc3");
  CHECK(idx.etag(walk(idx, "mp")) == "3858F62230AC3C915F300C664312C63F-3");
  CHECK(idx.etag(walk(idx, "none")).empty());
  CHECK(idx.storage(walk(idx, "u")) == storage_class::ia);
  CHECK(idx.storage(walk(idx, "mp")) == storage_class::archive);
  CHECK(idx.storage(walk(idx, "l")) == storage_class::standard);
}

TEST_CASE("one million objects fit in under 100 bytes each beyond their names") {
  index_builder bld("data/");
  char key[96];
  for (int d = 0; d < 1000; ++d) {
    for (int f = 0; f < 1000; ++f) {
      std::snprintf(key, sizeof key, "data/class_%04d/img_%07d.JPEG", d, d * 1000 + f);
      bld.add(key, 110000, 1700000000, "5EB63BBBE01EEED093CB22BB8F5ACDC3", "Standard");
    }
  }
  fs::index idx = std::move(bld).finish(1);
  REQUIRE(idx.stats().objects == 1000000);
  size_t beyond_names = idx.bytes_used() - idx.name_bytes();
  MESSAGE("bytes per object beyond names: ", double(beyond_names) / 1e6);
  CHECK(beyond_names <= 100 * idx.stats().objects);
  CHECK(walk(idx, "class_0999/img_0999999.JPEG") != 0);
}

TEST_CASE("a well-checksummed image whose node sits under a file is refused") {
  // Layout of format 1 (fs/index_file.cc): a 48-byte file head (SHA-256 of the rest at 16), an
  // 88-byte body head, bucket and prefix, then 48-byte nodes with parent at 16, first_child at
  // 20 and child_count at 24. Crafted: "b" under the file "a", which claims a million children.
  index_builder b("ds/");
  b.add("ds/a", 1, 100, "0123456789ABCDEF0123456789ABCDEF", "");
  b.add("ds/b", 1, 100, "0123456789ABCDEF0123456789ABCDEF", "");
  auto img = std::move(b).finish(100).serialize("b", "ds/");
  REQUIRE(fs::index::deserialize(img, "b", "ds/").ok());
  const size_t nodes = 48 + 88 + 1 + 3;
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(img.data() + off, &v, 4); };
  put32(nodes + 2 * 48 + 16, 1);
  put32(nodes + 1 * 48 + 20, 0);
  put32(nodes + 1 * 48 + 24, 1000000);
  unsigned len = 32;
  EVP_Digest(img.data() + 48, img.size() - 48, reinterpret_cast<unsigned char*>(img.data()) + 16,
             &len, EVP_sha256(), nullptr);
  auto crafted = fs::index::deserialize(img, "b", "ds/");
  REQUIRE_FALSE(crafted.ok());
  CHECK(crafted.err().code == EINVAL);
}

TEST_CASE("flat file round trip; corrupt, truncated and foreign files are refused") {
  index_builder bld("pre/");
  bld.add("pre/a/b", 10, 100, "5EB63BBBE01EEED093CB22BB8F5ACDC3", "IA");
  bld.add("pre/c", 20, 200, "x-2", "");
  fs::index idx = std::move(bld).finish(7);
  auto img = idx.serialize("bucket", "pre/");

  auto back = fs::index::deserialize(img, "bucket", "pre/");
  REQUIRE(back.ok());
  CHECK(back->node_count() == idx.node_count());
  CHECK(back->build_time() == 7);
  uint64_t b = walk(*back, "a/b");
  REQUIRE(b != 0);
  CHECK(back->size(b) == 10);
  CHECK(back->etag(walk(*back, "c")) == "x-2");
  CHECK(back->storage(b) == storage_class::ia);

  auto flipped = img;
  flipped[flipped.size() - 3] ^= std::byte{1};
  CHECK(fs::index::deserialize(flipped, "bucket", "pre/").err().code == EINVAL);
  auto truncated = img;
  truncated.resize(img.size() - 10);
  CHECK_FALSE(fs::index::deserialize(truncated, "bucket", "pre/").ok());
  CHECK_FALSE(fs::index::deserialize(std::span(img).first(20), "bucket", "pre/").ok());
  CHECK(fs::index::deserialize(img, "other", "pre/").err().code == ESTALE);
  CHECK(fs::index::deserialize(img, "bucket", "").err().code == ESTALE);
  std::vector<std::byte> junk(200, std::byte{7});
  CHECK_FALSE(fs::index::deserialize(junk, "bucket", "pre/").ok());

  std::string file = "/tmp/ossuring_fs_index_test.idx";
  REQUIRE(idx.save(file, "bucket", "pre/").ok());
  auto loaded = fs::index::load(file, "bucket", "pre/");
  REQUIRE(loaded.ok());
  CHECK(walk(*loaded, "a/b") == b);
  std::remove(file.c_str());
  CHECK(fs::index::load(file, "bucket", "pre/").err().code == ENOENT);
}

TEST_CASE("split_key finds a key strictly between two others") {
  auto check = [](std::string lo, std::string hi) {
    auto m = split_key(lo, hi);
    REQUIRE(m);
    CHECK(lo < *m);
    CHECK(*m < hi);
  };
  check("p/a", "p/\x7f");
  check("p/img_0001", "p/img_9");
  check("p/ab", "p/ac");  // adjacent bytes: split one level deeper
  check("p/a", "p/a0");
  CHECK_FALSE(split_key("p/b", "p/a"));
  CHECK_FALSE(split_key("p/a", "p/a"));
}

TEST_CASE("same_entries tells identical trees from ones differing in any field") {
  using object = std::tuple<std::string, uint64_t, std::string>;  // key, size, ETag
  auto build = [](std::vector<object> objs) {
    fs::index_builder b("");
    for (auto& [key, size, etag] : objs) {
      b.add(key, size, 1700000000, etag);
    }
    return std::move(b).finish(1700000000);
  };
  const std::string md5 = "0123456789ABCDEF0123456789ABCDEF";
  auto base = build({{"a", 1, md5}, {"d/x", 2, "weird-etag-1"}});
  CHECK(base.same_entries(build({{"a", 1, md5}, {"d/x", 2, "weird-etag-1"}})));
  // Fed in another order (pages arrive in any order): the same tree.
  CHECK(base.same_entries(build({{"d/x", 2, "weird-etag-1"}, {"a", 1, md5}})));
  CHECK_FALSE(base.same_entries(build({{"a", 2, md5}, {"d/x", 2, "weird-etag-1"}})));
  CHECK_FALSE(base.same_entries(
      build({{"a", 1, "0123456789ABCDEF0123456789ABCDEE"}, {"d/x", 2, "weird-etag-1"}})));
  CHECK_FALSE(base.same_entries(build({{"a", 1, md5}, {"d/x", 2, "weird-etag-2"}})));
  CHECK_FALSE(base.same_entries(build({{"b", 1, md5}, {"d/x", 2, "weird-etag-1"}})));
  CHECK_FALSE(base.same_entries(build({{"a", 1, md5}, {"d/x", 2, "weird-etag-1"}, {"e", 0, ""}})));
}

namespace {

// LISTs wait until the test lets them go, a round at a time: the build's listings run
// concurrently, as against a real server, instead of each one finishing before the next starts.
struct held_list_client : test::mock_client {
  std::vector<std::coroutine_handle<>> held;
  size_t most_held = 0;           // the most LISTs in flight at once
  std::vector<size_t> in_flight;  // LISTs in flight in each round
  struct parker {
    held_list_client* c;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      c->held.push_back(h);
      c->most_held = std::max(c->most_held, c->held.size());
    }
    void await_resume() const noexcept {}
  };
  task<result<oss::list_page>> list_objects_v2(const oss::list_request& req,
                                               abort_source* abort) override {
    parker wait{this};
    co_await wait;
    co_return co_await mock_client::list_objects_v2(req, abort);
  }
};

// Builds the index of `mock`'s keys, the LISTs answered a round at a time (so the number of
// rounds is the build's time in LIST round trips).
result<index_stats> build_in_rounds(held_list_client& mock) {
  filesystem fs(mock, test::index_opts());
  auto b = test::start(fs.build_index());
  while (!b.done()) {
    REQUIRE_FALSE(mock.held.empty());
    auto round = std::move(mock.held);
    mock.in_flight.push_back(round.size());
    mock.held.clear();
    for (auto h : round) {
      h.resume();
    }
  }
  return b.get();
}

// splitmix64: a fixed, well-spread 64-bit value for each number.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// `n` keys under ds/ in one of several shapes buckets have.
void put_keys(test::mock_client& mock, uint64_t n, int shape) {
  char key[64];
  for (uint64_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned long long>(i);
    switch (shape) {
      case 0:  // one flat directory of numbered files
        std::snprintf(key, sizeof key, "ds/train-%07llu.jpg", u);
        break;
      case 1:  // directories of 100 files
        std::snprintf(key, sizeof key, "ds/d%04llu/f%03llu", u / 100, u % 100);
        break;
      case 2:  // hashed names, spread over the whole alphabet
        std::snprintf(key, sizeof key, "ds/%016llx", static_cast<unsigned long long>(mix(i)));
        break;
      case 4: {  // three levels of ten directories, n / 1000 files in each leaf (ossemu's deep:N)
        const unsigned long long leaf = u / (n / 1000);
        std::snprintf(key, sizeof key, "ds/d%llu/d%llu/d%llu/file-%04llu.bin", leaf / 100,
                      leaf / 10 % 10, leaf % 10, u % (n / 1000));
        break;
      }
      default:  // unpadded numbers: 1, 10, 100, ... sort far apart
        std::snprintf(key, sizeof key, "ds/x/%llu", u);
        break;
    }
    mock.put(key, "z");
  }
}

}  // namespace

TEST_CASE("the index build sends at most ceil(N / 1000) + 2 LISTs up to 100,000 keys") {
  for (uint64_t n :
       {1ull, 999ull, 1'000ull, 1'001ull, 2'000ull, 10'000ull, 37'123ull, 100'000ull}) {
    for (int shape = 0; shape < 4; ++shape) {
      CAPTURE(n);
      CAPTURE(shape);
      held_list_client mock;
      put_keys(mock, n, shape);
      auto st = build_in_rounds(mock);
      REQUIRE(st.ok());
      CHECK(st->objects == n);
      CHECK(mock.calls.list <= (n + 999) / 1000 + 2);
    }
  }
}

TEST_CASE("a bucket proven large is listed by 16 listings within a few round trips") {
  for (int shape : {0, 1, 2, 4}) {
    CAPTURE(shape);
    held_list_client mock;
    put_keys(mock, 250'000, shape);
    auto st = build_in_rounds(mock);
    REQUIRE(st.ok());
    CHECK(st->objects == 250'000);
    // Until 100 pages are listed at most three listings run (the bound above); from then on
    // each cut lands where the names vary and an empty range re-cuts at once, so the listings
    // double each round trip: 16 in flight four or five round trips after the ramp, not after
    // sixteen or more of empty guesses above the last key (measured before: 144 round trips
    // and 359 LISTs for shape 0).
    const auto& r = mock.in_flight;
    const auto ramp_end = std::find_if(r.begin(), r.end(), [](size_t n) { return n > 3; });
    REQUIRE(ramp_end != r.end());
    // The two free cuts go 33 and 66 pages ahead of the second page, so three listings share
    // the 100 pages of the ramp: 34 round trips and the two before the cuts (measured 36; with
    // cuts near the page, 82 for shapes 0 and 1 and 100 for shape 4).
    CHECK(ramp_end - r.begin() <= 40);
    if (shape == 4) {
      // Cuts past the ramp assume a position's whole digit class: a leaf's 250 names use a
      // fortieth of `file-0000`..`file-9999`, so many land past a leaf's last name and the
      // listings climb slowly (61 round trips in all, 36 of them the ramp).
      CHECK(r.size() <= 70);
      continue;
    }
    const auto full = std::find(ramp_end, r.end(), 16);
    REQUIRE(full != r.end());
    CHECK(full - ramp_end <= 5);
    // The 150 pages left after the ramp take 10 round trips at 16 listings; allow the climb,
    // the ranges that end early and a tail.
    CHECK(r.end() - ramp_end <= 10 + 5 + 10);
    // Each cut costs at most one LIST (an empty range or a partial page): measured 313-319.
    CHECK(mock.calls.list <= 250 * 13 / 10);
  }
}

TEST_CASE("key_bytes::ahead extrapolates a listing's step in the names' own digits") {
  key_bytes deep;
  for (int leaf = 0; leaf < 2; ++leaf) {
    for (int f = 0; f < 1000; ++f) {
      char key[40];
      std::snprintf(key, sizeof key, "ds/d0/d0/d%d/file-%04d.bin", leaf, f);
      deep.add(key);
    }
  }
  // One leaf per page: 33 pages on is 33 leaves on; the carry passes over `/d` to the digit.
  auto m = deep.ahead("ds/d0/d0/d0/file-0999.bin", "ds/d0/d0/d1/file-0999.bin", 33, 3);
  REQUIRE(m);
  CHECK(*m == "ds/d0/d3/d4/file-0999.bin");
  m = deep.ahead("ds/d0/d0/d0/file-0999.bin", "ds/d0/d0/d1/file-0999.bin", 998, 3);
  REQUIRE(m);
  CHECK(*m == "ds/d9/d9/d9/file-0999.bin");
  // Past the top of the digits, a step that goes down or nowhere, a prefix that differs: none.
  CHECK_FALSE(deep.ahead("ds/d0/d0/d0/file-0999.bin", "ds/d0/d0/d1/file-0999.bin", 1000, 3));
  CHECK_FALSE(deep.ahead("ds/d0/d0/d1/file-0999.bin", "ds/d0/d0/d0/file-0999.bin", 33, 3));
  CHECK_FALSE(deep.ahead("ds/d0/d0/d1/file-0999.bin", "ds/d0/d0/d1/file-0999.bin", 33, 3));
  CHECK_FALSE(deep.ahead("ds/d0/d0/d0/file-0999.bin", "dt/d0/d0/d1/file-0999.bin", 33, 3));

  key_bytes flat;
  for (int i = 0; i < 2000; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "ds/train-%07d.jpg", i);
    flat.add(key);
  }
  m = flat.ahead("ds/train-0000999.jpg", "ds/train-0001999.jpg", 66, 3);
  REQUIRE(m);
  CHECK(*m == "ds/train-0067999.jpg");
  // Whatever the step, the result is above cur.
  for (const char* prev :
       {"ds/train-0000000.jpg", "ds/train-0001000.jpg", "ds/train-0001998.jpg"}) {
    m = flat.ahead(prev, "ds/train-0001999.jpg", 7, 3);
    REQUIRE(m);
    CHECK(*m > "ds/train-0001999.jpg");
  }
}

TEST_CASE("key_bytes cuts where the listed names vary, coarsest position first") {
  key_bytes seen;
  for (int i = 0; i < 150'000; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "ds/train-%07d.jpg", i);
    seen.add(key);
  }
  // Position 9 holds 0, 10 holds 0..1: the first that varies with room above the cursor.
  auto m = seen.cut("ds/train-0099999.jpg", "ds/\x7f", 3);
  REQUIRE(m);
  CHECK(*m == "ds/train-01");
  // Nothing seen varies above the last key: a position's class (digits at 9) is tried next.
  m = seen.cut("ds/train-0099999.jpg", "ds/train-01", 3);
  REQUIRE(m);
  CHECK(*m > "ds/train-0099999.jpg");
  CHECK(*m < "ds/train-01");
  // Always strictly between, or nothing.
  CHECK_FALSE(seen.cut("ds/b", "ds/a", 3));
  CHECK_FALSE(seen.cut("ds/a", "ds/a", 3));
  for (const char* hi : {"ds/train-0099999.jpg0", "ds/train-00999990", "ds/u", "ds/\x7f"}) {
    auto c = seen.cut("ds/train-0099999.jpg", hi, 3);
    if (c) {
      CHECK(*c > "ds/train-0099999.jpg");
      CHECK(*c < std::string(hi));
    }
  }
  // Deep names with a fixed first letter and digit: the digit's class, not the letter's.
  key_bytes deep;
  for (int i = 0; i < 100; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "d0/d%d/d%d/file-0%03d.bin", i / 10, i % 10, i);
    deep.add(key);
  }
  m = deep.cut("d0/d9/d9/file-0099.bin", "e", 0);
  REQUIRE(m);
  CHECK(*m == "d5");
}
