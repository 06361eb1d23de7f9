// noopen mode's implicit handles (fs/fuse/implicit_handles.hh) against the in-memory bucket: one
// handle per inode, opened at the first READ, kept until FORGET, reads through it.
#include <doctest/doctest.h>

#include "fs/filesystem.hh"
#include "fs/fuse/implicit_handles.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::sync_wait;

namespace {

fs_options index_options() {
  fs_options o;
  o.bucket = "b";
  o.prefix = "ds/";
  return o;
}

uint64_t ino_of(filesystem& fsys, const char* name) {
  auto e = sync_wait(fsys.lookup(1, name));
  REQUIRE(e.ok());
  return e->attr.ino;
}

}  // namespace

TEST_CASE("an inode's READs share one implicit handle until the kernel forgets the inode") {
  test::mock_client mock;
  mock.put("ds/a", "alpha");
  mock.put("ds/b", "bravo");
  filesystem fsys(mock, index_options());
  REQUIRE(sync_wait(fsys.build_index()).ok());
  implicit_handles handles(fsys);
  const uint64_t a = ino_of(fsys, "a");
  const uint64_t b = ino_of(fsys, "b");

  auto first = sync_wait(handles.get(a, nullptr));
  REQUIRE(first.ok());
  auto again = sync_wait(handles.get(a, nullptr));
  REQUIRE(again.ok());
  CHECK(*again == *first);
  auto other = sync_wait(handles.get(b, nullptr));
  REQUIRE(other.ok());
  CHECK(*other != *first);
  CHECK(handles.size() == 2);

  std::vector<std::byte> buf(16);
  auto n = sync_wait(fsys.read(a, *first, 0, buf));
  REQUIRE(n.ok());
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), *n) == "alpha");

  handles.drop(a);
  CHECK(handles.size() == 1);
  handles.drop(a);  // FORGET of an inode without a handle: nothing to do
  auto reopened = sync_wait(handles.get(a, nullptr));
  REQUIRE(reopened.ok());
  CHECK(*reopened != *first);
}

TEST_CASE("a READ of an inode that cannot be opened gets the file system's error, no handle") {
  test::mock_client mock;
  mock.put("ds/a", "alpha");
  filesystem fsys(mock, index_options());
  REQUIRE(sync_wait(fsys.build_index()).ok());
  implicit_handles handles(fsys);
  auto h = sync_wait(handles.get(987654, nullptr));
  CHECK_FALSE(h.ok());
  CHECK(handles.size() == 0);
}
