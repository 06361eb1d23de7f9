// Renames in lazy mode: CopyObject (or UploadPartCopy ranges above the copy threshold) then
// DeleteObject, with the inode kept, and files written while their rename runs.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/fs.h>

#include "fs/filesystem.hh"
#include "fs/inode_table.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/fs/fs_writes.hh"
#include "tests/support/fault_client.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::bytes;
using test::multipart_opts;
using test::pattern;
using test::read_all;
using test::rw_opts;
using test::sync_wait;

namespace {

constexpr uint64_t root = inode_table::root_ino;

}  // namespace

TEST_CASE("rename copies and deletes, keeps the inode; directories give EXDEV") {
  test::mock_client mock;
  mock.put("root/a", "content");
  mock.put("root/taken", "other");
  mock.put("root/dir/x", "x");
  filesystem fs(mock, rw_opts());
  auto a = sync_wait(fs.lookup(root, "a"));
  REQUIRE(a.ok());
  REQUIRE(sync_wait(fs.lookup(root, "taken")).ok());
  CHECK(sync_wait(fs.rename(root, "a", root, "taken", RENAME_NOREPLACE)).err().code == EEXIST);
  CHECK(sync_wait(fs.rename(root, "a", root, "b", RENAME_EXCHANGE)).err().code == EINVAL);
  REQUIRE(sync_wait(fs.rename(root, "a", root, "b", 0)).ok());
  CHECK(mock.find("root/a") == nullptr);
  REQUIRE(mock.find("root/b") != nullptr);
  CHECK(mock.find("root/b")->data == "content");
  auto b = sync_wait(fs.lookup(root, "b"));
  REQUIRE(b.ok());
  CHECK(b->attr.ino == a->attr.ino);
  CHECK(sync_wait(fs.lookup(root, "a")).err().code == ENOENT);

  REQUIRE(sync_wait(fs.lookup(root, "dir")).ok());
  CHECK(sync_wait(fs.rename(root, "dir", root, "dir2", 0)).err().code == EXDEV);
  CHECK(mock.find("root/dir/x") != nullptr);

  // A file being written is uploaded first, so the copy has its latest bytes.
  auto c = sync_wait(fs.create(root, "draft"));
  REQUIRE(c.ok());
  REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 0, bytes("v2"))).ok());
  REQUIRE(sync_wait(fs.rename(root, "draft", root, "final", 0)).ok());
  CHECK(mock.find("root/final")->data == "v2");
  CHECK(mock.find("root/draft") == nullptr);
  REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 2, bytes("+"))).ok());
  REQUIRE(sync_wait(fs.flush(c->entry.attr.ino, c->fh)).ok());
  CHECK(mock.find("root/final")->data == "v2+");  // later writes follow the new name
  CHECK(mock.find("root/draft") == nullptr);
  fs.release(c->entry.attr.ino, c->fh);
  sync_wait(fs.close());
}

TEST_CASE("bytes written while a rename copies are uploaded under the new name") {
  test::mock_client mock;
  filesystem fs(mock, rw_opts());
  auto c = sync_wait(fs.create(root, "draft"));
  REQUIRE(c.ok());
  const uint64_t ino = c->entry.attr.ino;
  REQUIRE(sync_wait(fs.write(ino, c->fh, 0, bytes("v1"))).ok());
  mock.park_copies = true;
  auto renaming = test::start(fs.rename(root, "draft", root, "final", 0));
  CHECK_FALSE(renaming.done());  // "v1" uploaded, its copy parked
  CHECK(mock.find("root/draft")->data == "v1");
  // A write and a close on another descriptor while the copy runs: uploaded to the old name.
  REQUIRE(sync_wait(fs.write(ino, c->fh, 2, bytes("+v2"))).ok());
  SUBCASE("the close's upload ends before the copy") {
    REQUIRE(sync_wait(fs.flush(ino, c->fh)).ok());
    CHECK(mock.find("root/draft")->data == "v1+v2");
    mock.release_parked();
    REQUIRE(renaming.done());
    REQUIRE(renaming.get().ok());
  }
  SUBCASE("the close's upload is still running when the copy ends") {
    mock.park_puts = true;
    auto flushing = test::start(fs.flush(ino, c->fh));
    REQUIRE_FALSE(flushing.done());
    // The rename waits for that PutObject before deleting the old name, which it would
    // otherwise bring back.
    mock.park_puts = false;
    mock.release_parked();
    REQUIRE(renaming.done());
    REQUIRE(flushing.done());
    CHECK(renaming.get().ok());
    CHECK(flushing.get().ok());
  }
  fs.release(ino, c->fh);
  sync_wait(fs.close());
  CHECK(mock.find("root/draft") == nullptr);
  REQUIRE(mock.find("root/final") != nullptr);
  CHECK(mock.find("root/final")->data == "v1+v2");  // not the "v1" the copy took
}

TEST_CASE("rename copies objects above the copy threshold with UploadPartCopy ranges") {
  test::mock_client mock;
  test::fault_client faults(mock);
  mock.copy_limit = 300 << 10;  // OSS's 1 GB, scaled down
  fs_options o = multipart_opts(64 << 20, 100 << 10);
  o.copy_threshold = 300 << 10;
  filesystem fs(faults, o);
  const std::string data = pattern(450 << 10);
  mock.put("root/big", data);
  mock.put("root/small", "small");
  auto big = sync_wait(fs.lookup(root, "big"));
  REQUIRE(big.ok());
  REQUIRE(sync_wait(fs.lookup(root, "small")).ok());

  REQUIRE(sync_wait(fs.rename(root, "big", root, "moved", 0)).ok());
  CHECK(mock.parts_copied == 5);  // 450 KiB in 100 KiB ranges
  REQUIRE(mock.find("root/moved") != nullptr);
  CHECK(mock.find("root/moved")->data == data);
  CHECK(mock.find("root/big") == nullptr);
  CHECK(mock.open_uploads() == 0);
  // The copy has a new ETag, which reads (If-Match) must name, through the inode the kernel
  // already holds (it does not look the new name up again).
  const uint64_t ino = big->attr.ino;
  auto r = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(r.ok());
  CHECK(read_all(fs, ino, r->fh) == data);
  fs.release(ino, r->fh);
  auto moved = sync_wait(fs.lookup(root, "moved"));
  REQUIRE(moved.ok());
  CHECK(moved->attr.ino == ino);
  CHECK(moved->attr.size == data.size());

  // Below the threshold it stays one CopyObject.
  REQUIRE(sync_wait(fs.rename(root, "small", root, "small2", 0)).ok());
  CHECK(mock.parts_copied == 5);
  CHECK(mock.find("root/small2")->data == "small");

  // An object that grew behind the mount's back: CopyObject is refused for its size, and the
  // rename learns the real size and copies in ranges.
  mock.put("root/grown", "tiny");
  REQUIRE(sync_wait(fs.lookup(root, "grown"))->attr.size == 4);
  mock.put("root/grown", data);
  REQUIRE(sync_wait(fs.rename(root, "grown", root, "grown2", 0)).ok());
  CHECK(mock.parts_copied == 10);
  CHECK(mock.find("root/grown2")->data == data);
  CHECK(mock.find("root/grown") == nullptr);

  // A range that fails (twice: the whole copy is tried once more) fails the rename, leaves the
  // source in place and aborts the uploads.
  mock.put("root/keep", data);
  REQUIRE(sync_wait(fs.lookup(root, "keep")).ok());
  faults.add({test::fault_client::put, "fail-dst", 1,
              test::fault_client::oss_error(500, "InternalError", EIO)});
  auto failed = sync_wait(fs.rename(root, "keep", root, "fail-dst", 0));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.err().code == EIO);
  CHECK(mock.find("root/keep")->data == data);
  CHECK(mock.find("root/fail-dst") == nullptr);
  CHECK(mock.open_uploads() == 0);
  CHECK(sync_wait(fs.lookup(root, "keep")).ok());
  sync_wait(fs.close());
}

TEST_CASE("a rename whose delete fails keeps the file's bytes under its old name") {
  test::mock_client mock;
  test::fault_client faults(mock);
  filesystem fs(faults, rw_opts());
  auto c = sync_wait(fs.create(root, "old"));
  REQUIRE(c.ok());
  const uint64_t ino = c->entry.attr.ino;
  REQUIRE(sync_wait(fs.write(ino, c->fh, 0, bytes("one"))).ok());
  mock.park_copies = true;
  auto renaming = test::start(fs.rename(root, "old", root, "new", 0));
  REQUIRE_FALSE(renaming.done());
  REQUIRE(sync_wait(fs.write(ino, c->fh, 3, bytes("+two"))).ok());
  faults.add({test::fault_client::del, "root/old", 1,
              test::fault_client::oss_error(500, "InternalError", EIO)});
  mock.release_parked();
  REQUIRE(renaming.done());
  CHECK(renaming.get().err().code == EIO);
  // Still named "old": the close uploads its bytes there.
  REQUIRE(sync_wait(fs.flush(ino, c->fh)).ok());
  fs.release(ino, c->fh);
  sync_wait(fs.close());
  REQUIRE(mock.find("root/old") != nullptr);
  CHECK(mock.find("root/old")->data == "one+two");
}

TEST_CASE("an object that grew behind the mount is renamed with its real size") {
  test::mock_client mock;
  mock.copy_limit = 300 << 10;
  fs_options o = rw_opts();
  o.part_size = 100 << 10;
  o.copy_threshold = 300 << 10;
  filesystem fs(mock, o);
  mock.put("root/grown", "tiny");
  auto e = sync_wait(fs.lookup(root, "grown"));
  REQUIRE(e.ok());
  const uint64_t ino = e->attr.ino;
  const std::string data = pattern(450 << 10);
  mock.put("root/grown", data);
  REQUIRE(sync_wait(fs.rename(root, "grown", root, "grown2", 0)).ok());
  auto a = sync_wait(fs.getattr(ino));
  REQUIRE(a.ok());
  CHECK(a->attr.size == data.size());
  auto r = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(r.ok());
  CHECK(read_all(fs, ino, r->fh) == data);
  fs.release(ino, r->fh);
  sync_wait(fs.close());
}
