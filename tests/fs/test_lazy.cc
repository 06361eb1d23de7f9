// Lazy mode: on-demand listings, attribute cache TTL, negative cache, lookup counts, FORGET.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <coroutine>
#include <ctime>

#include "fs/filesystem.hh"
#include "fs/inode_table.hh"
#include "fs/meta/lazy_meta.hh"
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

// GETs held until resume_all(), and an aborted one ends then, from outside request_abort(), as
// the real client's do.
struct held_get_client : test::mock_client {
  bool hold = false;
  std::vector<std::coroutine_handle<>> held;
  struct parker {
    held_get_client* c;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { c->held.push_back(h); }
    void await_resume() const noexcept {}
  };
  task<result<oss::get_result>> get_object(const oss::get_request& req, std::span<std::byte> dest,
                                           abort_source* abort) override {
    if (hold) {
      co_await parker{this};
    }
    if (abort != nullptr && abort->aborted()) {
      co_return make_error(ECANCELED, "request cancelled");
    }
    co_return co_await mock_client::get_object(req, dest, nullptr);
  }
  void resume_all() {
    auto h = std::move(held);
    held.clear();
    for (auto x : h) {
      x.resume();
    }
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
  // A common prefix has no time of its own: it shows the mount's start, not 1970.
  CHECK(d->attr.mtime_sec >= static_cast<int64_t>(::time(nullptr)) - 60);
  CHECK(sync_wait(fs.getattr(inode_table::root_ino))->attr.mtime_sec == d->attr.mtime_sec);

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

TEST_CASE("lazy lookup requests: one small LIST for a file, a directory, neither, odd names") {
  test::mock_client mock;
  mock.put("root/file", "f");
  mock.put("root/dir/x", "x");
  mock.put("root/name-1", "1");  // '-' and '.' sort before '/': between `name` and `name/`
  mock.put("root/name.txt", "t");
  mock.put("root/name/child", "c");
  mock.put("root/zzz", "z");
  struct want {
    const char* name;
    int type;  // S_IFREG, S_IFDIR, or 0 for ENOENT
  };
  for (const want& w : {want{"file", S_IFREG}, want{"dir", S_IFDIR}, want{"missing", 0},
                        want{"nam", 0}, want{"name", S_IFDIR}, want{"name-1", S_IFREG},
                        want{"name.txt", S_IFREG}, want{"zzzz", 0}}) {
    CAPTURE(w.name);
    filesystem fs(mock, lazy_opts());
    const auto before = mock.calls;
    mock.list_log.clear();
    auto e = sync_wait(fs.lookup(inode_table::root_ino, w.name));
    if (w.type == 0) {
      CHECK(e.err().code == ENOENT);
    } else {
      REQUIRE(e.ok());
      CHECK((e->attr.mode & S_IFMT) == static_cast<uint32_t>(w.type));
    }
    CHECK(mock.calls.list - before.list == 1);
    CHECK(mock.calls.total() - before.total() == 1);  // no HEAD, no GetObjectMeta
    REQUIRE(mock.list_log.size() == 1);
    CHECK(mock.list_log[0].max_keys == lookup_page_keys);  // not a page of 1,000
  }
}

TEST_CASE("lazy lookup: many names between `name` and `name/` cost one LIST of `name/` more") {
  test::mock_client mock;
  for (const char* k :
       {"root/name-1", "root/name-2", "root/name.txt", "root/name/child", "root/both",
        "root/both-1", "root/both-2", "root/both.txt", "root/both/child", "root/file",
        "root/file-1", "root/file-2", "root/file.txt"}) {
    mock.put(k, "v");
  }
  struct want {
    const char* name;
    int type;
  };
  // A directory pushed past the page; an object that is also a directory (the directory wins,
  // as in index mode); a file whose page is full of its longer siblings.
  for (const want& w : {want{"name", S_IFDIR}, want{"both", S_IFDIR}, want{"file", S_IFREG}}) {
    CAPTURE(w.name);
    filesystem fs(mock, lazy_opts());
    const auto before = mock.calls;
    mock.list_log.clear();
    auto e = sync_wait(fs.lookup(inode_table::root_ino, w.name));
    REQUIRE(e.ok());
    CHECK((e->attr.mode & S_IFMT) == static_cast<uint32_t>(w.type));
    CHECK(mock.calls.total() - before.total() == 2);
    REQUIRE(mock.list_log.size() == 2);
    CHECK(mock.list_log[1].prefix == std::string("root/") + w.name + "/");
    CHECK(mock.list_log[1].max_keys == 1);
  }
}

TEST_CASE("read_lookup_page: what a page settles and what it leaves open") {
  oss::list_page empty;
  lookup_probe p = read_lookup_page(empty, "r/n", "r/n/");
  CHECK_FALSE(p.file);
  CHECK_FALSE(p.is_dir);
  CHECK(p.file_settled);  // an untruncated empty page: neither exists
  CHECK(p.dir_settled);
  empty.truncated = true;  // a server sending an empty page with more to come: ask again
  p = read_lookup_page(empty, "r/n", "r/n/");
  CHECK_FALSE(p.file_settled);
  CHECK_FALSE(p.dir_settled);
  oss::list_page prefixes;
  prefixes.truncated = true;
  prefixes.common_prefixes = {"r/n-1/", "r/n.d/", "r/n/"};
  p = read_lookup_page(prefixes, "r/n", "r/n/");
  CHECK(p.is_dir);
  CHECK(p.file_settled);  // `r/n` would have come first
  CHECK(p.dir_settled);
  prefixes.common_prefixes = {"r/n-1/", "r/n.d/", "r/n.e/"};
  p = read_lookup_page(prefixes, "r/n", "r/n/");
  CHECK_FALSE(p.is_dir);
  CHECK_FALSE(p.dir_settled);  // `r/n/` may come on the next page
  prefixes.common_prefixes = {"r/n-1/", "r/na/"};
  p = read_lookup_page(prefixes, "r/n", "r/n/");
  CHECK(p.dir_settled);  // listed past `r/n/`: it is not there
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

TEST_CASE("a name a listing showed is not answered ENOENT from the negative cache later") {
  test::mock_client mock;
  mock.put("root/d/x", "1");
  fake_clock c;
  auto o = lazy_opts();  // attributes trusted for 10 s
  o.oss_negative_cache_timeout = 60s;
  filesystem fs(mock, o, nullptr, c.fn());
  auto d = sync_wait(fs.lookup(inode_table::root_ino, "d"));
  REQUIRE(d.ok());
  CHECK(sync_wait(fs.lookup(d->attr.ino, "new")).err().code == ENOENT);  // remembered
  mock.put("root/d/new", "fresh");                                       // uploaded elsewhere
  auto names = test::list_dir(fs, d->attr.ino, false);
  CHECK(std::find(names.begin(), names.end(), "new") != names.end());
  c.t += 11s;  // the listing expired; the negative entry would still hold for 49 s
  auto again = sync_wait(fs.lookup(d->attr.ino, "new"));
  CHECK_MESSAGE(again.ok(), "errno ", again.ok() ? 0 : again.err().code);
}

TEST_CASE("readdirplus from an old snapshot keeps the attributes learnt since") {
  test::mock_client mock;
  mock.put("root/d/f", "old");
  fake_clock c;
  filesystem fs(mock, lazy_opts(), nullptr, c.fn());
  auto d = sync_wait(fs.lookup(inode_table::root_ino, "d"));
  REQUIRE(d.ok());
  auto dh = sync_wait(fs.opendir(d->attr.ino));  // snapshot: f holds "old"
  REQUIRE(dh.ok());
  mock.put("root/d/f", "newer bytes");
  c.t += 11s;
  auto f = sync_wait(fs.lookup(d->attr.ino, "f"));  // a fresh LIST: 11 bytes
  REQUIRE(f.ok());
  CHECK(f->attr.size == 11);
  // The process that opened the directory 11 s ago goes on reading it.
  uint64_t listed_size = 0;
  REQUIRE(sync_wait(fs.readdir(d->attr.ino, *dh, 0, true, [&](const dir_entry& e) {
            if (e.name == "f") {
              listed_size = e.attr.size;
            }
            return true;
          })).ok());
  CHECK(listed_size == 11);
  auto a = sync_wait(fs.getattr(f->attr.ino));
  REQUIRE(a.ok());
  CHECK(a->attr.size == 11);
  CHECK(test::cat_ino(fs, f->attr.ino) == "newer bytes");
  fs.releasedir(d->attr.ino, *dh);
}

TEST_CASE("an object without an ETag rewritten at the same size is read anew") {
  test::mock_client mock;
  mock.put("root/f", "AAAAA");
  mock.put_etag("root/f", "");
  fake_clock c;
  filesystem fs(mock, lazy_opts(), nullptr, c.fn());
  auto e = sync_wait(fs.lookup(inode_table::root_ino, "f"));
  REQUIRE(e.ok());
  CHECK(test::cat_ino(fs, e->attr.ino) == "AAAAA");
  mock.put("root/f", "BBBBB");
  mock.put_etag("root/f", "");
  c.t += 11s;
  REQUIRE(sync_wait(fs.getattr(e->attr.ino)).ok());
  CHECK(test::cat_ino(fs, e->attr.ino) == "BBBBB");
}

TEST_CASE("a read whose handle goes because the object was rewritten fails with ESTALE") {
  held_get_client mock;
  mock.put("root/big", std::string(20000, 'q'));
  fake_clock c;
  auto o = lazy_opts();
  o.small_file_threshold = 4096;
  filesystem fs(mock, o, nullptr, c.fn());
  auto e = sync_wait(fs.lookup(inode_table::root_ino, "big"));
  REQUIRE(e.ok());
  const uint64_t ino = e->attr.ino;
  auto h = sync_wait(fs.open(ino, O_RDONLY, nullptr, false));  // noopen mode's implicit handle
  REQUIRE(h.ok());
  mock.hold = true;
  std::vector<std::byte> buf(100);
  auto r = test::start(fs.read(ino, h->fh, 0, buf));  // waits for its ranged GET
  CHECK_FALSE(r.done());
  mock.hold = false;
  // Rewritten elsewhere; GETATTR sees it, and the next READ replaces the stale handle
  // (fuse_ops) while the first still waits.
  mock.put("root/big", std::string(20000, 'r'));
  c.t += 11s;
  REQUIRE(sync_wait(fs.getattr(ino)).ok());
  CHECK_FALSE(fs.is_current(h->fh));
  fs.release(ino, h->fh);
  mock.resume_all();
  REQUIRE(r.done());
  auto res = r.get();
  REQUIRE_FALSE(res.ok());
  CHECK(res.err().code == ESTALE);
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
