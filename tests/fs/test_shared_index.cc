// --shared-index against the mock: a first mount lists and publishes the image, later ones start
// from it without listing, refused images (truncated, corrupt, foreign, hostile) fall back to a
// listing, and the lease lets one mount of a group re-list while the others pick up its image.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/log.hh"
#include "fs/filesystem.hh"
#include "fs/meta/shared_index.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/fault_client.hh"
#include "tests/support/log_capture.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::list_dir;
using test::sync_wait;

namespace {

constexpr const char* image_key = "idx/ds.img";

fs_options shared_opts() {
  fs_options o = test::index_opts();
  o.shared_index = image_key;
  return o;
}

void fill(test::mock_client& mock, int n) {
  for (int i = 0; i < n; ++i) {
    mock.put("ds/d" + std::to_string(i % 3) + "/k" + std::to_string(100 + i), "v");
  }
}

// The leases of this hour and its neighbours: as if the next interval had begun.
void erase_leases(test::mock_client& mock) {
  const int64_t epoch = static_cast<int64_t>(std::time(nullptr)) / 3600;
  for (int64_t e = epoch - 1; e <= epoch + 1; ++e) {
    mock.erase(std::string(image_key) + ".lease." + std::to_string(e));
  }
}

// The image a plain listing of `mock` gives, for `bucket`/`prefix`.
std::string image_of(test::mock_client& mock, const std::string& bucket = "b",
                     const std::string& prefix = "ds/") {
  filesystem plain(mock, test::index_opts());
  REQUIRE(sync_wait(plain.build_index()).ok());
  std::vector<std::byte> img = plain.current_index().serialize(bucket, prefix);
  return std::string(reinterpret_cast<const char*>(img.data()), img.size());
}

// Layout of the image (fs/index_file.cc): a 48-byte head (magic, version, byte order, SHA-256
// of the rest), an 88-byte body head (node count, names size, extra size, build time, bucket
// and prefix lengths, six counts), bucket, prefix, 48-byte nodes, names.
constexpr size_t head_size = 48;
constexpr size_t off_version = 8;
constexpr size_t off_node_count = 48;
constexpr size_t off_names_size = 56;
constexpr size_t off_objects = 88;
constexpr size_t nodes_at = 136 + 1 + 3;  // bucket "b", prefix "ds/"
constexpr size_t node_size = 48;

template <typename T>
void poke(std::string& img, size_t off, T v) {
  REQUIRE(off + sizeof v <= img.size());
  std::memcpy(img.data() + off, &v, sizeof v);
}
template <typename T>
T peek(const std::string& img, size_t off) {
  T v{};
  std::memcpy(&v, img.data() + off, sizeof v);
  return v;
}

// A crafted image passes the checksum: only the structural checks stand in the way.
void reseal(std::string& img) {
  unsigned len = 32;
  uint8_t sum[32];
  EVP_Digest(img.data() + head_size, img.size() - head_size, sum, &len, EVP_sha256(), nullptr);
  std::memcpy(img.data() + 16, sum, 32);
}

size_t names_at(const std::string& img) {
  return nodes_at + peek<uint64_t>(img, off_node_count) * node_size;
}

std::vector<std::string> names_of(filesystem& fs) {
  std::vector<std::string> out;
  for (const char* d : {"d0", "d1", "d2"}) {
    auto e = sync_wait(fs.lookup(index::root_ino, d));
    REQUIRE(e.ok());
    for (const std::string& n : list_dir(fs, e->attr.ino, false)) {
      if (n != "." && n != "..") {
        out.push_back(std::string(d) + "/" + n);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("shared index: the first mount lists and publishes, the next starts from the image") {
  test::mock_client mock;
  fill(mock, 40);
  filesystem first(mock, shared_opts());
  auto st = sync_wait(first.build_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 40);
  CHECK(mock.calls.list > 0);
  REQUIRE(mock.find(image_key) != nullptr);  // published
  const auto before = mock.calls;

  filesystem second(mock, shared_opts());
  auto st2 = sync_wait(second.build_index());
  REQUIRE(st2.ok());
  CHECK(st2->objects == 40);
  CHECK(mock.calls.list == before.list);    // no LIST at all
  CHECK(mock.calls.get == before.get + 1);  // one ranged GET of a small image
  CHECK(mock.calls.put == before.put);      // no lease asked for
  CHECK(names_of(second) == names_of(first));
  CHECK(names_of(second).size() == 40);
  CHECK(sync_wait(second.lookup(index::root_ino, "idx")).err().code == ENOENT);
}

TEST_CASE("shared index: refused images are logged and the mount lists instead") {
  struct bad_image {
    const char* what;
    const char* reason;  // in the log line
    std::function<void(std::string&)> spoil;
  };
  const std::vector<bad_image> cases = {
      {"truncated", "checksum mismatch", [](std::string& img) { img.resize(img.size() / 2); }},
      {"empty", "too short", [](std::string& img) { img.clear(); }},
      {"checksum", "checksum mismatch",
       [](std::string& img) { img.back() = static_cast<char>(img.back() ^ 0x20); }},
      {"version", "unsupported version",
       [](std::string& img) { poke<uint32_t>(img, off_version, 2); }},
      {"not an index", "not an ossuring index",
       [](std::string& img) { img.replace(0, 8, "NOTANIDX"); }},
      {"absurd node count", "bad sizes",
       [](std::string& img) {
         poke<uint64_t>(img, off_node_count, uint64_t{1} << 40);
         reseal(img);
       }},
      {"absurd names size", "bad sizes",
       [](std::string& img) {
         poke<uint64_t>(img, off_names_size, uint64_t{1} << 62);
         reseal(img);
       }},
      {"absurd object count", "counts above the node count",
       [](std::string& img) {
         poke<uint64_t>(img, off_objects, uint64_t{1} << 60);
         reseal(img);
       }},
      {"root claims every node", "bad directory",
       [](std::string& img) {
         poke<uint32_t>(img, nodes_at + 24, UINT32_MAX);
         reseal(img);
       }},
      {"parent after the child", "bad node",
       [](std::string& img) {
         const uint64_t n = peek<uint64_t>(img, off_node_count);
         poke<uint32_t>(img, nodes_at + node_size * 1 + 16, static_cast<uint32_t>(n - 1));
         reseal(img);
       }},
      {"name with a slash (a key outside the prefix)", "bad name",
       [](std::string& img) {
         img[names_at(img)] = '/';
         reseal(img);
       }},
      {"name '..' (a key outside the prefix)", "bad name",
       [](std::string& img) {
         // Node 1 is "d0" (names are in node order, the root's is empty).
         REQUIRE(img.compare(names_at(img), 2, "d0") == 0);
         img.replace(names_at(img), 2, "..");
         reseal(img);
       }},
      {"name outside the names", "bad node",
       [](std::string& img) {
         poke<uint64_t>(img, nodes_at + node_size * 2 + 8,
                        peek<uint64_t>(img, nodes_at + node_size * 2 + 8) | ((1ull << 40) - 1));
         reseal(img);
       }},
  };
  for (const bad_image& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    test::mock_client mock;
    fill(mock, 30);
    std::string img = image_of(mock);
    c.spoil(img);
    mock.put(image_key, img);
    const auto before = mock.calls;
    test::log_capture log("shared-index");
    filesystem fs(mock, shared_opts());
    auto st = sync_wait(fs.build_index());
    REQUIRE(st.ok());
    CHECK(st->objects == 30);
    CHECK(mock.calls.list > before.list);  // listed instead
    CHECK(log.text().find("shared_index_refused") != std::string::npos);
    CHECK(log.text().find(c.reason) != std::string::npos);
    CHECK(names_of(fs).size() == 30);
    // It won the lease and replaced the image with its listing: the next mount reads it.
    const auto after = mock.calls;
    filesystem next(mock, shared_opts());
    REQUIRE(sync_wait(next.build_index()).ok());
    CHECK(mock.calls.list == after.list);
    CHECK(names_of(next) == names_of(fs));
  }
}

TEST_CASE("shared index: an image of another bucket or prefix is refused") {
  for (const auto& [bucket, prefix] : std::vector<std::pair<std::string, std::string>>{
           {"other", "ds/"}, {"b", "ds2/"}, {"b", ""}}) {
    CAPTURE(bucket);
    CAPTURE(prefix);
    test::mock_client mock;
    fill(mock, 12);
    mock.put(image_key, image_of(mock, bucket, prefix));
    test::log_capture log("shared-index");
    const auto before = mock.calls;
    filesystem fs(mock, shared_opts());
    REQUIRE(sync_wait(fs.build_index()).ok());
    CHECK(mock.calls.list > before.list);
    CHECK(log.text().find("shared_index_refused") != std::string::npos);
    CHECK(log.text().find("not this mount") != std::string::npos);
    CHECK(names_of(fs).size() == 12);
  }
  // A key naming another bucket is refused before any request: the mount lists.
  test::mock_client mock;
  fill(mock, 3);
  fs_options o = shared_opts();
  o.shared_index = "oss://elsewhere/idx/ds.img";
  test::log_capture log("shared-index");
  filesystem fs(mock, o);
  REQUIRE(sync_wait(fs.build_index()).ok());
  CHECK(log.text().find("shared_index_refused") != std::string::npos);
  CHECK(mock.calls.get == 0);
  CHECK(mock.calls.put == 0);
  // oss://b/KEY names the mounted bucket: published there.
  o.shared_index = "oss://b/idx/ds.img";
  filesystem same(mock, o);
  REQUIRE(sync_wait(same.build_index()).ok());
  CHECK(mock.find(image_key) != nullptr);
}

TEST_CASE("shared index: an image with paths longer than any OSS key is refused") {
  // Seventeen levels of 250-byte names: 4,267 bytes of path, beyond what a listing of OSS (keys
  // of at most 1,023 bytes) can give; a crafted image could nest far deeper.
  test::mock_client mock;
  std::string key = "ds/";
  for (int i = 0; i < 17; ++i) {
    key += std::string(250, static_cast<char>('a' + i)) + "/";
  }
  mock.put(key + "f", "x");
  mock.put("ds/short", "y");
  mock.put(image_key, image_of(mock));
  test::log_capture log("shared-index");
  filesystem fs(mock, shared_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  CHECK(mock.calls.list > 1);  // the image's own listing, then this mount's
  CHECK(log.text().find("path too long") != std::string::npos);
  CHECK(sync_wait(fs.lookup(index::root_ino, "short")).ok());
}

TEST_CASE("shared index: a mount that cannot write the lease lists without publishing") {
  test::mock_client mock;
  fill(mock, 9);
  test::fault_client faulty(mock);
  faulty.add(
      {test::fault_client::put, "", 1, test::fault_client::oss_error(403, "AccessDenied", EACCES)});
  filesystem fs(faulty, shared_opts());
  auto st = sync_wait(fs.build_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 9);
  CHECK(mock.find(image_key) == nullptr);
  CHECK(mock.calls.list > 0);
}

TEST_CASE("shared index: one mount of a group wins the lease, the others take its image") {
  test::mock_client mock;
  fill(mock, 20);
  fs_options o = shared_opts();
  abort_source aa, ab, ac;
  shared_index a(mock, o, aa), b(mock, o, ab), c(mock, o, ac);

  // Start: no image. A wins the lease and lists; B loses and waits, and A publishes meanwhile.
  auto da = sync_wait(a.start());
  REQUIRE(da.ok());
  CHECK(da->what == shared_index::action::list_and_publish);
  filesystem plain(mock, test::index_opts());
  REQUIRE(sync_wait(plain.build_index()).ok());
  unsigned waits = 0;
  b.set_sleep([&](std::chrono::nanoseconds, abort_source*) -> task<bool> {
    if (++waits == 2) {
      co_await a.publish(plain.current_index());
    }
    co_return true;
  });
  auto db = sync_wait(b.start());
  REQUIRE(db.ok());
  CHECK(db->what == shared_index::action::use_image);
  REQUIRE(db->image.has_value());
  CHECK(db->image->stats().objects == 20);
  CHECK(b.etag() == a.etag());
  CHECK_FALSE(a.etag().empty());
  // C comes later: reads the image, asks for no lease.
  const unsigned puts = mock.calls.put;
  auto dc = sync_wait(c.start());
  REQUIRE(dc.ok());
  CHECK(dc->what == shared_index::action::use_image);
  CHECK(mock.calls.put == puts);

  // A refresh while the image is young: one HEAD each, nothing else.
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto before = mock.calls;
  for (shared_index* s : {&a, &b, &c}) {
    auto d = sync_wait(s->refresh(now));
    REQUIRE(d.ok());
    CHECK(d->what == shared_index::action::keep);
  }
  CHECK(mock.calls.head == before.head + 3);
  CHECK(mock.calls.total() == before.total() + 3);

  // The image is old and the next interval has begun: exactly one of them re-lists. (B lost
  // this interval's lease at start and does not ask again; in a real next interval it would.)
  erase_leases(mock);
  mock.put("ds/d0/new", "n");
  before = mock.calls;
  unsigned winners = 0;
  shared_index* winner = nullptr;
  for (shared_index* s : {&b, &a, &c}) {
    auto d = sync_wait(s->refresh(0));
    REQUIRE(d.ok());
    if (d->what == shared_index::action::list_and_publish) {
      ++winners;
      winner = s;
    } else {
      CHECK(d->what == shared_index::action::keep);
    }
  }
  CHECK(winners == 1);
  CHECK(winner == &a);                      // the first to ask
  CHECK(mock.calls.put == before.put + 2);  // A's and C's lease attempts
  // Losers do not ask again in the same interval.
  before = mock.calls;
  CHECK(sync_wait(c.refresh(0))->what == shared_index::action::keep);
  CHECK(mock.calls.put == before.put);
  CHECK(mock.calls.head == before.head + 1);

  // The winner publishes; the others see the new ETag with a HEAD and read the image.
  filesystem relisted(mock, test::index_opts());
  REQUIRE(sync_wait(relisted.build_index()).ok());
  sync_wait(a.publish(relisted.current_index()));
  before = mock.calls;
  for (shared_index* s : {&b, &c}) {
    auto d = sync_wait(s->refresh(0));
    REQUIRE(d.ok());
    CHECK(d->what == shared_index::action::use_image);
    REQUIRE(d->image.has_value());
    CHECK(d->image->stats().objects == 21);
    CHECK(s->etag() == a.etag());
  }
  CHECK(mock.calls.head == before.head + 2);
  CHECK(mock.calls.get == before.get + 2);
  CHECK(mock.calls.list == before.list);
}

TEST_CASE("shared index: a mount's refresh takes a newer image without listing") {
  test::mock_client mock;
  fill(mock, 15);
  filesystem first(mock, shared_opts());
  REQUIRE(sync_wait(first.build_index()).ok());
  filesystem second(mock, shared_opts());
  REQUIRE(sync_wait(second.build_index()).ok());
  // Another node re-listed and published.
  mock.put("ds/d1/late", "x");
  abort_source abort;
  const fs_options o = shared_opts();  // shared_index keeps a reference
  shared_index other(mock, o, abort);
  filesystem plain(mock, test::index_opts());
  REQUIRE(sync_wait(plain.build_index()).ok());
  sync_wait(other.publish(plain.current_index()));
  const auto before = mock.calls;
  auto st = sync_wait(second.refresh_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 16);
  CHECK(mock.calls.list == before.list);
  CHECK(mock.calls.head == before.head + 1);
  CHECK(mock.calls.get == before.get + 1);
  auto d1 = sync_wait(second.lookup(index::root_ino, "d1"));
  REQUIRE(d1.ok());
  CHECK(sync_wait(second.lookup(d1->attr.ino, "late")).ok());
  // A refresh with nothing new: a HEAD, and the index stays.
  const auto again = mock.calls;
  REQUIRE(sync_wait(second.refresh_index()).ok());
  CHECK(mock.calls.total() == again.total() + 1);
}

TEST_CASE("shared index: a publish between the parts of an image read is not mixed in") {
  // An image larger than one part is read in parts pinned to the first part's ETag. Another
  // mount publishing between the parts makes the later ones fail (412) instead of splicing two
  // images: the read is refused and the mount lists the bucket as it is now.
  struct publishing_client : test::mock_client {
    std::string next_image;  // put over the image right after its first part was read
    unsigned image_reads = 0;
    task<result<oss::get_result>> get_object(const oss::get_request& req, std::span<std::byte> dest,
                                             abort_source* abort) override {
      auto pending = mock_client::get_object(req, dest, abort);
      result<oss::get_result> got = co_await std::move(pending);
      if (req.key == image_key) {
        ++image_reads;
        if (req.offset == 0 && !next_image.empty()) {
          put(image_key, std::exchange(next_image, std::string()));
        }
      }
      co_return got;
    }
  };
  publishing_client mock;
  fill(mock, 200'000);
  const std::string old_image = image_of(mock);
  REQUIRE(old_image.size() > shared_index::part_size);
  mock.put(image_key, old_image);
  mock.put("ds/d0/k-new", "v");  // the bucket changed, and a new image says so
  mock.next_image = image_of(mock);
  REQUIRE(mock.next_image.size() > shared_index::part_size);
  test::log_capture log("shared-index");
  filesystem fs(mock, shared_opts());
  const uint64_t lists_before = mock.calls.list;
  auto st = sync_wait(fs.build_index());
  REQUIRE(st.ok());
  CHECK(mock.image_reads >= 2);           // the first part, then a refused one
  CHECK(mock.calls.list > lists_before);  // listed instead
  CHECK(st->objects == 200'001);          // the bucket as it is: the new key included
  CHECK(sync_wait(fs.lookup(index::root_ino, "d0")).ok());
  CHECK(log.text().find("shared_index_unreadable") != std::string::npos);
  CHECK(log.text().find("precondition") != std::string::npos);
}
