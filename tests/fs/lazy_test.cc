// Lazy mode: on-demand listings, attribute cache TTL, negative cache, lookup counts, FORGET.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "fs/filesystem.hh"
#include "fs/inode_table.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using namespace std::chrono_literals;
using test::lazy_opts;
using test::sync_wait;

namespace {

struct fake_clock {
  fs_clock::time_point t{std::chrono::hours(1)};
  clock_fn fn() {
    return [this] { return t; };
  }
};

}  // namespace

TEST_CASE("negative cache: timeout, size limit with LRU eviction, off by default") {
  fake_clock c;
  negative_cache off(0s, 10000);
  off.insert("k", c.t);
  CHECK_FALSE(off.contains("k", c.t));

  negative_cache n(30s, 2);
  n.insert("a", c.t);
  n.insert("b", c.t);
  CHECK(n.contains("a", c.t));  // touches a: b is now the oldest
  n.insert("c", c.t);
  CHECK(n.size() == 2);
  CHECK_FALSE(n.contains("b", c.t));
  CHECK(n.contains("a", c.t + 29s));
  CHECK_FALSE(n.contains("a", c.t + 30s));
  CHECK(n.size() == 1);
}

TEST_CASE("lazy readdirplus lists a directory with one LIST and no HEAD per entry") {
  test::mock_client mock;
  for (int i = 0; i < 1500; ++i) {
    mock.put("root/dir/f" + std::to_string(i), std::string(i % 10, 'x'));
  }
  mock.put("root/dir/sub/inner", "i");
  mock.put("root/dir/", "");  // marker of the directory itself: not an entry
  fake_clock c;
  filesystem fs(mock, lazy_opts(), nullptr, c.fn());
  auto dir = sync_wait(fs.lookup(inode_table::root_ino, "dir"));
  REQUIRE(dir.ok());
  CHECK((dir->attr.mode & S_IFMT) == S_IFDIR);
  const auto lists = mock.calls.list;
  auto fh = sync_wait(fs.opendir(dir->attr.ino));
  REQUIRE(fh.ok());
  CHECK(mock.calls.list - lists == 2);  // 1501 entries: two pages of one delimiter listing
  std::vector<dir_entry> seen;
  std::vector<std::string> names;
  REQUIRE(sync_wait(fs.readdir(dir->attr.ino, *fh, 0, true, [&](const dir_entry& e) {
            names.emplace_back(e.name);
            seen.push_back(e);
            return true;
          })).ok());
  CHECK(names.size() == 1503);
  CHECK(std::find(names.begin(), names.end(), "sub") != names.end());
  CHECK(mock.calls.head + mock.calls.meta == 0);

  // Every attribute came from the listing: lookups and getattrs now cost nothing.
  const auto total = mock.calls.total();
  auto f7 = sync_wait(fs.lookup(dir->attr.ino, "f7"));
  REQUIRE(f7.ok());
  CHECK(f7->attr.size == 7);
  CHECK(sync_wait(fs.getattr(f7->attr.ino))->attr.size == 7);
  CHECK(sync_wait(fs.lookup(dir->attr.ino, "nope")).err().code == ENOENT);
  CHECK(mock.calls.total() == total);
  fs.releasedir(dir->attr.ino, *fh);
}

TEST_CASE("readdir offsets resume where the buffer filled up") {
  test::mock_client mock;
  for (int i = 0; i < 10; ++i) {
    mock.put("root/d/f" + std::to_string(i), "x");
  }
  filesystem fs(mock, lazy_opts());
  uint64_t d = sync_wait(fs.lookup(inode_table::root_ino, "d"))->attr.ino;
  uint64_t fh = *sync_wait(fs.opendir(d));
  std::vector<std::string> all;
  uint64_t off = 0;
  for (int round = 0; round < 20; ++round) {
    int taken = 0;
    uint64_t next = off;
    REQUIRE(sync_wait(fs.readdir(d, fh, off, false, [&](const dir_entry& e) {
              if (taken == 3) {
                return false;
              }
              ++taken;
              all.emplace_back(e.name);
              next = e.next_offset;
              return true;
            })).ok());
    if (taken == 0) {
      break;
    }
    off = next;
  }
  CHECK(all.size() == 12);
  CHECK(all[0] == ".");
  CHECK(all[1] == "..");
  CHECK(all[2] == "f0");
  CHECK(all.back() == "f9");
}

TEST_CASE("lazy lookup: one LIST answers file or directory; attributes expire after attr_timeout") {
  test::mock_client mock;
  mock.put("root/a.txt", "12345");
  mock.put("root/a.txt-sibling", "z");
  mock.put("root/d/x", "x");
  fake_clock c;
  filesystem fs(mock, lazy_opts(), nullptr, c.fn());
  auto f = sync_wait(fs.lookup(inode_table::root_ino, "a.txt"));
  REQUIRE(f.ok());
  CHECK(f->attr.size == 5);
  CHECK(mock.calls.list == 1);
  auto d = sync_wait(fs.lookup(inode_table::root_ino, "d"));
  REQUIRE(d.ok());
  CHECK((d->attr.mode & S_IFMT) == S_IFDIR);
  CHECK(mock.calls.list == 2);
  CHECK(mock.calls.meta == 0);

  // Within attr_timeout getattr is free; after it, one GetObjectMeta refreshes.
  c.t += 9s;
  CHECK(sync_wait(fs.getattr(f->attr.ino))->attr.size == 5);
  CHECK(mock.calls.meta == 0);
  mock.put("root/a.txt", "1234567");
  c.t += 2s;
  CHECK(sync_wait(fs.getattr(f->attr.ino))->attr.size == 7);
  CHECK(mock.calls.meta == 1);
  mock.erase("root/a.txt");
  c.t += 11s;
  CHECK(sync_wait(fs.getattr(f->attr.ino)).err().code == ENOENT);
}

TEST_CASE("lazy lookup falls back to exact probes when a truncated page is inconclusive") {
  test::mock_client mock;
  for (int i = 0; i < 1200; ++i) {
    mock.put("root/name-" + std::to_string(i), "s");
  }
  mock.put("root/name/child", "c");
  filesystem fs(mock, lazy_opts());
  auto d = sync_wait(fs.lookup(inode_table::root_ino, "name"));
  REQUIRE(d.ok());
  CHECK((d->attr.mode & S_IFMT) == S_IFDIR);
  CHECK(mock.calls.list == 2);
}

TEST_CASE("negative cache spares repeated misses until it expires") {
  test::mock_client mock;
  fake_clock c;
  fs_options o = lazy_opts();
  o.oss_negative_cache_timeout = 30s;
  filesystem fs(mock, o, nullptr, c.fn());
  CHECK(sync_wait(fs.lookup(inode_table::root_ino, "new.txt")).err().code == ENOENT);
  CHECK(mock.calls.list == 1);
  mock.put("root/new.txt", "now it exists");
  CHECK(sync_wait(fs.lookup(inode_table::root_ino, "new.txt")).err().code == ENOENT);
  CHECK(mock.calls.list == 1);
  CHECK(fs.counters().negative_hits == 1);
  c.t += 31s;
  CHECK(sync_wait(fs.lookup(inode_table::root_ino, "new.txt")).ok());
  CHECK(mock.calls.list == 2);

  // Default (timeout 0): every miss asks OSS.
  test::mock_client mock2;
  filesystem fs2(mock2, lazy_opts(), nullptr, c.fn());
  CHECK_FALSE(sync_wait(fs2.lookup(inode_table::root_ino, "x")).ok());
  CHECK_FALSE(sync_wait(fs2.lookup(inode_table::root_ino, "x")).ok());
  CHECK(mock2.calls.list == 2);
}

TEST_CASE("lookup counts: FORGET frees an inode only when every lookup is forgotten") {
  test::mock_client mock;
  mock.put("root/f", "data");
  filesystem fs(mock, lazy_opts());
  auto a = sync_wait(fs.lookup(inode_table::root_ino, "f"));
  auto b = sync_wait(fs.lookup(inode_table::root_ino, "f"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->attr.ino == b->attr.ino);
  fs.forget(a->attr.ino, 1);
  CHECK(sync_wait(fs.getattr(a->attr.ino)).ok());
  fs.forget(a->attr.ino, 1);
  CHECK(sync_wait(fs.getattr(a->attr.ino)).err().code == ESTALE);
  fs.forget(inode_table::root_ino, 100);  // the root is never freed
  CHECK(sync_wait(fs.getattr(inode_table::root_ino)).ok());
}

TEST_CASE("lazy reads use the ETag from the listing") {
  test::mock_client mock;
  mock.put("root/r", "read me lazily");
  filesystem fs(mock, lazy_opts());
  auto e = sync_wait(fs.lookup(inode_table::root_ino, "r"));
  REQUIRE(e.ok());
  auto o = sync_wait(fs.open(e->attr.ino, O_RDONLY));
  REQUIRE(o.ok());
  std::vector<std::byte> buf(64);
  auto n = sync_wait(fs.read(e->attr.ino, o->fh, 0, buf));
  REQUIRE(n.ok());
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), *n) == "read me lazily");
  CHECK(mock.calls.get == 1);
  CHECK(mock.get_log[0].if_match == mock.find("root/r")->etag);
}
