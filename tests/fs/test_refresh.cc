// filesystem in index mode against the mock: saved indexes, refreshes under a live mount and the
// index generations that keep the kernel's inodes meaningful.
#include <doctest/doctest.h>

#include <fcntl.h>

#include <cstdio>
#include <string>
#include <vector>

#include "fs/filesystem.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/fault_client.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::cat_ino;
using test::index_opts;
using test::list_dir;
using test::sync_wait;

TEST_CASE("a saved index is reused at the next mount; a stale or corrupt one is rebuilt") {
  std::string file = "/tmp/ossuring_fs_reuse_" + std::to_string(getpid()) + ".idx";
  test::mock_client mock;
  for (int i = 0; i < 50; ++i) {
    mock.put("ds/k" + std::to_string(i), "v");
  }
  bool reused = true;
  {
    filesystem fs(mock, index_opts());
    REQUIRE(sync_wait(fs.load_or_build_index(file, std::chrono::hours(1), &reused)).ok());
    CHECK_FALSE(reused);
  }
  const auto lists = mock.calls.list;
  {
    filesystem fs(mock, index_opts());
    auto st = sync_wait(fs.load_or_build_index(file, std::chrono::hours(1), &reused));
    REQUIRE(st.ok());
    CHECK(reused);
    CHECK(st->objects == 50);
    CHECK(mock.calls.list == lists);  // no listing at all
    CHECK(sync_wait(fs.lookup(fs::index::root_ino, "k7")).ok());
  }
  {
    filesystem fs(mock, index_opts());
    REQUIRE(sync_wait(fs.load_or_build_index(file, std::chrono::seconds(-1), &reused)).ok());
    CHECK_FALSE(reused);  // too old
    CHECK(mock.calls.list > lists);
  }
  {
    FILE* f = std::fopen(file.c_str(), "r+b");
    REQUIRE(f);
    std::fseek(f, 60, SEEK_SET);
    std::fputc(0x5a, f);
    std::fclose(f);
    filesystem fs(mock, index_opts());
    REQUIRE(sync_wait(fs.load_or_build_index(file, std::chrono::hours(1), &reused)).ok());
    CHECK_FALSE(reused);  // corrupt: rebuilt and saved again
    CHECK(fs.current_index().stats().objects == 50);
  }
  {
    fs_options other = index_opts();
    other.bucket = "another";
    filesystem fs(mock, other);
    REQUIRE(sync_wait(fs.load_or_build_index(file, std::chrono::hours(1), &reused)).ok());
    CHECK_FALSE(reused);  // made for another bucket
  }
  std::remove(file.c_str());
}

// ---- index refresh and generations ----

TEST_CASE("a refresh before the kernel holds any inode replaces the index in place") {
  test::mock_client mock;
  mock.put("ds/a", "1");
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  mock.put("ds/b", "2");
  auto st = sync_wait(fs.refresh_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 2);
  CHECK(fs.index_generations() == 1);
  CHECK(fs.counters().index_refreshes == 1);
  auto b = sync_wait(fs.lookup(fs::index::root_ino, "b"));
  REQUIRE(b.ok());
  CHECK(b->attr.ino <= fs.current_index().node_count());  // node numbers, no offset
}

TEST_CASE("the kernel keeps a cached directory listing until a refresh replaces it") {
  test::mock_client mock;
  mock.put("ds/a", "1");
  mock.put("ds/d/x", "1");
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  auto d = sync_wait(fs.lookup(fs::index::root_ino, "d"));
  REQUIRE(d.ok());
  fs.keep_dir_cache(fs::index::root_ino);  // the first opendir: the kernel caches from here
  CHECK(fs.keep_dir_cache(fs::index::root_ino));
  CHECK(fs.keep_dir_cache(d->attr.ino));
  mock.put("ds/d/z", "1");
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  // The root keeps its inode number: asked once after the refresh, it says "drop it".
  CHECK_FALSE(fs.keep_dir_cache(fs::index::root_ino));
  CHECK(fs.keep_dir_cache(fs::index::root_ino));
  CHECK_FALSE(fs.keep_dir_cache(d->attr.ino));  // an old generation's directory
}

TEST_CASE("after a refresh, inodes the kernel holds answer from their generation until forgotten") {
  test::mock_client mock;
  mock.put("ds/a", "1");
  mock.put("ds/d/x", "xx");
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  auto a_old = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  auto d_old = sync_wait(fs.lookup(fs::index::root_ino, "d"));
  REQUIRE(a_old.ok());
  REQUIRE(d_old.ok());
  // The bucket changes: `a` is rewritten, `b` appears, `d/x` goes and `d/y` comes.
  mock.put("ds/a", "222");
  mock.put("ds/b", "b");
  mock.erase("ds/d/x");
  mock.put("ds/d/y", "yyyy");
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  CHECK(fs.index_generations() == 2);

  // The old inode still describes the object as it was when the kernel learned of it...
  auto ga = sync_wait(fs.getattr(a_old->attr.ino));
  REQUIRE(ga.ok());
  CHECK(ga->attr.size == 1);
  // ...and never mixes in the new bytes: the GET pins the old ETag.
  auto o = sync_wait(fs.open(a_old->attr.ino, O_RDONLY));
  CHECK_FALSE(o.ok());
  CHECK(o.err().code == ESTALE);

  // A fresh lookup answers from the new index under a new inode number.
  auto a_new = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  REQUIRE(a_new.ok());
  CHECK(a_new->attr.ino != a_old->attr.ino);
  CHECK(a_new->attr.size == 3);
  CHECK(cat_ino(fs, a_new->attr.ino) == "222");
  CHECK(sync_wait(fs.lookup(fs::index::root_ino, "b")).ok());

  // A lookup under the old directory inode is answered from the new index by path.
  CHECK(sync_wait(fs.lookup(d_old->attr.ino, "x")).err().code == ENOENT);
  auto y = sync_wait(fs.lookup(d_old->attr.ino, "y"));
  REQUIRE(y.ok());
  CHECK(cat_ino(fs, y->attr.ino) == "yyyy");
  // Listing the old directory inode shows the directory as the new index has it, and the kernel
  // is told to drop what it cached of it.
  CHECK_FALSE(fs.keep_dir_cache(d_old->attr.ino));
  CHECK(list_dir(fs, d_old->attr.ino, false) == std::vector<std::string>{".", "..", "y"});

  // Once the kernel forgets every old inode, the old generation is released.
  fs.forget(a_old->attr.ino, 1);
  CHECK(fs.index_generations() == 2);
  fs.forget(d_old->attr.ino, 1);
  CHECK(fs.index_generations() == 1);
  CHECK(sync_wait(fs.getattr(a_old->attr.ino)).err().code == ESTALE);
  CHECK(sync_wait(fs.getattr(a_new->attr.ino)).ok());
}

TEST_CASE("readdirplus entries and open directory handles keep their generation alive") {
  test::mock_client mock;
  for (int i = 0; i < 5; ++i) {
    mock.put("ds/f" + std::to_string(i), "v");
  }
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  auto fh = sync_wait(fs.opendir(fs::index::root_ino));
  REQUIRE(fh.ok());
  std::vector<uint64_t> inos;
  REQUIRE(sync_wait(fs.readdir(fs::index::root_ino, *fh, 0, true, [&](const dir_entry& e) {
            if (e.name != "." && e.name != "..") {
              inos.push_back(e.ino);
            }
            return inos.size() < 3;  // the buffer fills after three entries
          })).ok());
  REQUIRE(inos.size() == 3);
  mock.put("ds/f9", "new");
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  CHECK(fs.index_generations() == 2);
  // Two entries were taken by the kernel (the third did not fit); the handle still holds too.
  fs.forget(inos[0], 1);
  fs.forget(inos[1], 1);
  CHECK(fs.index_generations() == 2);
  fs.releasedir(fs::index::root_ino, *fh);
  CHECK(fs.index_generations() == 1);
}

TEST_CASE("a failed refresh keeps serving the current index") {
  test::mock_client mock;
  mock.put("ds/a", "1");
  test::fault_client faults(mock);
  filesystem fs(faults, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  auto a = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  REQUIRE(a.ok());
  faults.add({test::fault_client::list, "", 1,
              test::fault_client::oss_error(503, "ServiceUnavailable", EAGAIN)});
  auto r = sync_wait(fs.refresh_index());
  CHECK_FALSE(r.ok());
  CHECK(fs.index_generations() == 1);
  CHECK(fs.counters().index_refreshes == 0);
  CHECK(sync_wait(fs.getattr(a->attr.ino)).ok());
  CHECK(cat_ino(fs, a->attr.ino) == "1");
}

TEST_CASE("a reused index gets short kernel timeouts until a refresh confirms it") {
  std::string file = "/tmp/ossuring_fs_provisional_" + std::to_string(getpid()) + ".idx";
  test::mock_client mock;
  mock.put("ds/a", "1");
  fs_options o = index_opts();
  o.entry_timeout = o.attr_timeout = std::chrono::hours(24 * 365);
  {
    filesystem fs(mock, o);
    REQUIRE(sync_wait(fs.load_or_build_index(file, std::chrono::hours(1))).ok());
    auto a = sync_wait(fs.lookup(fs::index::root_ino, "a"));
    REQUIRE(a.ok());
    CHECK(a->entry_timeout == o.entry_timeout);  // freshly listed: authoritative
  }
  mock.put("ds/b", "2");
  filesystem fs(mock, o);
  bool reused = false;
  REQUIRE(sync_wait(fs.load_or_build_index(file, std::chrono::hours(1), &reused)).ok());
  REQUIRE(reused);
  auto a = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  REQUIRE(a.ok());
  CHECK(a->entry_timeout <= filesystem::provisional_timeout);
  CHECK(a->attr_timeout <= filesystem::provisional_timeout);
  CHECK(fs.negative_timeout() <= filesystem::provisional_timeout);
  CHECK(sync_wait(fs.lookup(fs::index::root_ino, "b")).err().code == ENOENT);  // not yet
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  auto b = sync_wait(fs.lookup(fs::index::root_ino, "b"));
  REQUIRE(b.ok());
  CHECK(b->entry_timeout == o.entry_timeout);
  CHECK(fs.negative_timeout() == o.entry_timeout);
  // The refreshed index was saved: the next mount reuses one that knows `b`.
  filesystem fs3(mock, o);
  REQUIRE(sync_wait(fs3.load_or_build_index(file, std::chrono::hours(1), &reused)).ok());
  CHECK(reused);
  CHECK(sync_wait(fs3.lookup(fs::index::root_ino, "b")).ok());
  std::remove(file.c_str());
}

TEST_CASE("an unchanged refresh keeps inode numbers; a changed one asks the kernel to forget") {
  test::mock_client mock;
  mock.put("ds/a", "1");
  mock.put("ds/d/x", "xx");
  fs_options o = index_opts();
  o.entry_timeout = o.attr_timeout = std::chrono::hours(24 * 365);
  filesystem fs(mock, o);
  REQUIRE(sync_wait(fs.build_index()).ok());
  int forgets = 0;
  fs.on_index_changed([&forgets]() -> task<status> {
    ++forgets;
    co_return status{};
  });
  auto a = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  REQUIRE(a.ok());
  fs.keep_dir_cache(fs::index::root_ino);

  // The same listing again: nothing the kernel holds changes meaning.
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  CHECK(fs.counters().index_refreshes == 1);
  CHECK(fs.index_generations() == 1);
  CHECK(forgets == 0);
  CHECK(fs.keep_dir_cache(fs::index::root_ino));
  auto again = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  REQUIRE(again.ok());
  CHECK(again->attr.ino == a->attr.ino);

  // Rewritten with the same size (only the ETag differs): a change.
  mock.put("ds/a", "2");
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  CHECK(forgets == 1);
  CHECK(fs.index_generations() == 2);
  CHECK_FALSE(fs.keep_dir_cache(fs::index::root_ino));
  auto fresh = sync_wait(fs.lookup(fs::index::root_ino, "a"));
  REQUIRE(fresh.ok());
  CHECK(fresh->attr.ino != a->attr.ino);

  // A kernel that refuses the notification costs nothing but the warning.
  fs.on_index_changed([]() -> task<status> { co_return make_error(EINVAL, "too old"); });
  mock.erase("ds/d/x");
  CHECK(sync_wait(fs.refresh_index()).ok());
  CHECK(sync_wait(fs.lookup(fs::index::root_ino, "d")).err().code == ENOENT);
}

// ---- a daemon restarted on the same connection (--supervise) ----

TEST_CASE(
    "a restored index keeps inode numbers, resumes old directory handles, and refreshes "
    "above them") {
  test::mock_client mock;
  for (int i = 0; i < 30; ++i) {
    mock.put("ds/f" + std::to_string(100 + i), std::string(static_cast<size_t>(i), 'x'));
  }
  filesystem dead(mock, index_opts());
  REQUIRE(sync_wait(dead.build_index()).ok());
  // A refresh while the kernel holds an inode: the dead daemon served a second generation.
  auto held = sync_wait(dead.lookup(fs::index::root_ino, "f105"));
  REQUIRE(held.ok());
  mock.put("ds/new", "n");
  REQUIRE(sync_wait(dead.refresh_index()).ok());
  const uint64_t base = dead.current_index_base();
  REQUIRE(base > 0);
  auto f110 = sync_wait(dead.lookup(fs::index::root_ino, "f110"));
  REQUIRE(f110.ok());
  // A listing in progress: 10 entries read through handle `fh`.
  auto fh = sync_wait(dead.opendir(fs::index::root_ino));
  REQUIRE(fh.ok());
  std::vector<std::string> first;
  uint64_t cookie = 0;
  REQUIRE(sync_wait(dead.readdir(fs::index::root_ino, *fh, 0, false, [&](const dir_entry& e) {
            if (first.size() == 10) {
              return false;
            }
            first.emplace_back(e.name);
            cookie = e.next_offset;
            return true;
          })).ok());
  auto image = dead.current_index().serialize("bucket", "ds/");

  filesystem fs(mock, index_opts());
  auto idx = fs::index::deserialize(image, "bucket", "ds/");
  REQUIRE(idx.ok());
  fs.restore_index(std::move(*idx), {.base = base, .restarts = 0});
  // The same names have the same inode numbers; the first generation's are unknown (ESTALE).
  auto again = sync_wait(fs.lookup(fs::index::root_ino, "f110"));
  REQUIRE(again.ok());
  CHECK(again->attr.ino == f110->attr.ino);
  CHECK(again->attr.size == 10);
  CHECK(sync_wait(fs.getattr(held->attr.ino)).err().code == ESTALE);
  // The dead daemon's directory handle resumes where its listing was.
  std::vector<std::string> rest;
  REQUIRE(sync_wait(fs.readdir(fs::index::root_ino, *fh, cookie, false, [&](const dir_entry& e) {
            rest.emplace_back(e.name);
            return true;
          })).ok());
  std::vector<std::string> all = first;
  all.insert(all.end(), rest.begin(), rest.end());
  CHECK(all.size() == 33);  // ".", "..", 30 files and "new"
  CHECK(all == list_dir(dead, fs::index::root_ino, false));
  // New handles never take a number the dead daemon may have handed out.
  auto mine = sync_wait(fs.opendir(fs::index::root_ino));
  REQUIRE(mine.ok());
  CHECK(*mine >= (uint64_t{1} << 48));
  fs.releasedir(fs::index::root_ino + 1, *mine);  // another inode's RELEASEDIR: not this handle
  CHECK(sync_wait(fs.readdir(fs::index::root_ino, *mine, 0, false, [](const dir_entry&) {
          return false;
        })).ok());
  // A refresh that changes the index installs a generation far above the restored one.
  mock.put("ds/newer", "n");
  REQUIRE(sync_wait(fs.refresh_index()).ok());
  CHECK(fs.current_index_base() >= base + (uint64_t{1} << 40));
  CHECK(sync_wait(fs.getattr(f110->attr.ino)).ok());  // the restored generation stays
  sync_wait(fs.close());
  sync_wait(dead.close());
}
