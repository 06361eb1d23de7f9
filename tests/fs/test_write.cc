// Writes in lazy mode: staged files uploaded on flush (PutObject or multipart), empty creates,
// writes into existing objects, truncate, unlink, mkdir/rmdir, rename, and failures that keep
// the data.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "fs/filesystem.hh"
#include "fs/inode_table.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/fs/fs_writes.hh"
#include "tests/support/fault_client.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using namespace std::chrono_literals;
using test::bytes;
using test::multipart_opts;
using test::pattern;
using test::read_all;
using test::rw_opts;
using test::sync_wait;

namespace {

constexpr uint64_t root = inode_table::root_ino;

// Writes `data` from offset 0 in order, `piece` bytes per call, as a sequential writer would.
void write_in_pieces(filesystem& fs, uint64_t ino, uint64_t fh, std::string_view data,
                     size_t piece) {
  for (size_t off = 0; off < data.size(); off += piece) {
    REQUIRE(sync_wait(fs.write(ino, fh, off, bytes(data.substr(off, piece)))).ok());
  }
}

}  // namespace

TEST_CASE("a created file is visible at once, and uploaded once, at its flush") {
  test::mock_client mock;
  filesystem fs(mock, rw_opts());
  auto c = sync_wait(fs.create(root, "new.txt"));
  REQUIRE(c.ok());
  const uint64_t ino = c->entry.attr.ino;
  CHECK((c->entry.attr.mode & S_IFMT) == S_IFREG);
  CHECK(sync_wait(fs.statfs(root))->bavail > 0);  // df shows room to write
  REQUIRE(sync_wait(fs.write(ino, c->fh, 0, bytes("hello "))).ok());
  REQUIRE(sync_wait(fs.write(ino, c->fh, 6, bytes("world"))).ok());
  CHECK(mock.calls.total() == 0);
  // Not in OSS yet, but lookups, getattr and a listing of the parent show it with its size.
  auto again = sync_wait(fs.lookup(root, "new.txt"));
  REQUIRE(again.ok());
  CHECK(again->attr.ino == ino);
  CHECK(again->attr.size == 11);
  CHECK(sync_wait(fs.getattr(ino))->attr.size == 11);
  std::vector<std::string> names = test::list_dir(fs, root, false);
  CHECK(std::find(names.begin(), names.end(), "new.txt") != names.end());
  CHECK(mock.calls.put == 0);

  REQUIRE(sync_wait(fs.flush(ino, c->fh)).ok());
  CHECK(mock.calls.put == 1);
  REQUIRE(mock.find("root/new.txt") != nullptr);
  CHECK(mock.find("root/new.txt")->data == "hello world");
  REQUIRE(sync_wait(fs.flush(ino, c->fh)).ok());  // nothing changed since: no request
  fs.release(ino, c->fh);
  sync_wait(fs.close());
  CHECK(mock.calls.put == 1);
  CHECK(fs.counters().uploads == 1);
  CHECK(fs.counters().upload_bytes == 11);
}

TEST_CASE(
    "a small file read or rewritten right after it was written costs no GET; a large one does") {
  test::mock_client mock;
  fs_options o = multipart_opts(64 << 20, 8 << 20);
  o.small_file_threshold = 64 << 10;
  filesystem fs(mock, o);
  const std::string small = pattern(10000);
  const std::string large = pattern(100 << 10);
  uint64_t ino[2] = {};
  for (int i = 0; i < 2; ++i) {
    auto c = sync_wait(fs.create(root, i == 0 ? "small" : "large"));
    REQUIRE(c.ok());
    ino[i] = c->entry.attr.ino;
    REQUIRE(sync_wait(fs.write(ino[i], c->fh, 0, bytes(i == 0 ? small : large))).ok());
    REQUIRE(sync_wait(fs.flush(ino[i], c->fh)).ok());
    fs.release(ino[i], c->fh);
  }
  CHECK(fs.counters().blobs_seeded == 1);
  mock.calls = {};
  auto r = sync_wait(fs.open(ino[0], O_RDONLY));
  REQUIRE(r.ok());
  CHECK(read_all(fs, ino[0], r->fh) == small);
  fs.release(ino[0], r->fh);
  CHECK(mock.calls.get == 0);
  CHECK(fs.counters().blob_hits == 1);
  auto l = sync_wait(fs.open(ino[1], O_RDONLY));
  REQUIRE(l.ok());
  CHECK(read_all(fs, ino[1], l->fh) == large);
  fs.release(ino[1], l->fh);
  CHECK(mock.calls.get > 0);  // above the small-file threshold: ranged GETs, nothing seeded

  // Rewritten: the blob of the new ETag is seeded, and a read sees the new bytes.
  auto w = sync_wait(fs.open(ino[0], O_WRONLY | O_TRUNC));
  REQUIRE(w.ok());
  REQUIRE(sync_wait(fs.write(ino[0], w->fh, 0, bytes("v2"))).ok());
  REQUIRE(sync_wait(fs.flush(ino[0], w->fh)).ok());
  fs.release(ino[0], w->fh);
  mock.calls = {};
  auto r2 = sync_wait(fs.open(ino[0], O_RDONLY));
  REQUIRE(r2.ok());
  CHECK(read_all(fs, ino[0], r2->fh) == "v2");
  fs.release(ino[0], r2->fh);
  CHECK(mock.calls.get == 0);
  // Opened to change a byte (no O_TRUNC): staged from the blob, not from OSS.
  auto e = sync_wait(fs.open(ino[0], O_WRONLY));
  REQUIRE(e.ok());
  REQUIRE(sync_wait(fs.write(ino[0], e->fh, 1, bytes("3"))).ok());
  REQUIRE(sync_wait(fs.flush(ino[0], e->fh)).ok());
  fs.release(ino[0], e->fh);
  CHECK(mock.find("root/small")->data == "v3");
  CHECK(mock.calls.get == 0);
  CHECK(mock.calls.meta == 1);  // the ETag checked in OSS, as the GETs' If-Match would
  sync_wait(fs.close());
}

TEST_CASE("opening a cached object to change it fails with ESTALE when it changed in OSS") {
  test::mock_client mock;
  filesystem fs(mock, rw_opts());
  mock.put("root/f", "version-one");
  auto e = sync_wait(fs.lookup(root, "f"));
  REQUIRE(e.ok());
  const uint64_t ino = e->attr.ino;
  auto r = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(r.ok());
  CHECK(read_all(fs, ino, r->fh) == "version-one");  // now a blob in the cache
  fs.release(ino, r->fh);
  mock.put("root/f", "VERSION-TWO, from another machine");  // within the attribute timeout
  auto w = sync_wait(fs.open(ino, O_WRONLY));               // no O_TRUNC: staged from the blob
  REQUIRE_FALSE(w.ok());
  CHECK(w.err().code == ESTALE);
  CHECK(mock.find("root/f")->data == "VERSION-TWO, from another machine");
  sync_wait(fs.close());
}

TEST_CASE("an empty new file is in OSS when its close returns") {
  test::mock_client mock;
  filesystem fs(mock, rw_opts());
  // touch: create, close.
  auto t = sync_wait(fs.create(root, "empty"));
  REQUIRE(t.ok());
  REQUIRE(sync_wait(fs.flush(t->entry.attr.ino, t->fh)).ok());
  CHECK(mock.calls.put == 1);
  REQUIRE(mock.find("root/empty") != nullptr);
  CHECK(mock.find("root/empty")->data.empty());
  fs.release(t->entry.attr.ino, t->fh);
  sync_wait(fs.close());
  CHECK(mock.calls.put == 1);

  // A shell's `> file`: a duplicate fd is closed (FLUSH) before the write.
  filesystem fs2(mock, rw_opts());
  auto s = sync_wait(fs2.create(root, "redirect"));
  REQUIRE(s.ok());
  const uint64_t ino = s->entry.attr.ino;
  REQUIRE(sync_wait(fs2.flush(ino, s->fh)).ok());
  REQUIRE(sync_wait(fs2.write(ino, s->fh, 0, bytes("x\n"))).ok());
  REQUIRE(sync_wait(fs2.flush(ino, s->fh)).ok());
  fs2.release(ino, s->fh);
  sync_wait(fs2.close());
  CHECK(mock.calls.put == 3);  // the empty file, then its content
  CHECK(mock.find("root/redirect")->data == "x\n");
}

TEST_CASE("writing into an existing object stages it with GETs; O_TRUNC stages nothing") {
  test::mock_client mock;
  mock.put("root/f", "hello world");
  filesystem fs(mock, rw_opts());
  auto e = sync_wait(fs.lookup(root, "f"));
  REQUIRE(e.ok());
  const uint64_t ino = e->attr.ino;
  auto w = sync_wait(fs.open(ino, O_WRONLY));
  REQUIRE(w.ok());
  CHECK(mock.calls.get == 1);
  CHECK(mock.get_log.back().if_match == mock.find("root/f")->etag);  // the object it looked up
  REQUIRE(sync_wait(fs.write(ino, w->fh, 0, bytes("HELLO"))).ok());
  // A reader opened meanwhile sees the staged bytes, as on a local disk.
  auto r = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(r.ok());
  CHECK(read_all(fs, ino, r->fh) == "HELLO world");
  fs.release(ino, r->fh);
  REQUIRE(sync_wait(fs.flush(ino, w->fh)).ok());
  CHECK(mock.find("root/f")->data == "HELLO world");
  fs.release(ino, w->fh);

  const unsigned gets = mock.calls.get;
  auto t = sync_wait(fs.open(ino, O_WRONLY | O_TRUNC));
  REQUIRE(t.ok());
  CHECK(mock.calls.get == gets);
  CHECK(sync_wait(fs.getattr(ino))->attr.size == 0);
  REQUIRE(sync_wait(fs.flush(ino, t->fh)).ok());
  CHECK(mock.find("root/f")->data.empty());
  fs.release(ino, t->fh);
  sync_wait(fs.close());
}

TEST_CASE("above the multipart threshold, parts are uploaded in parallel and assembled in order") {
  test::mock_client mock;
  fs_options o = multipart_opts(1 << 20, 256 << 10);
  o.upload_parallelism = 3;
  filesystem fs(mock, o);
  auto c = sync_wait(fs.create(root, "big.bin"));
  REQUIRE(c.ok());
  const std::string data = pattern((1 << 20) + (300 << 10));  // 5 full parts and a short one
  // Written out of order, as a program seeking around would.
  REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 700000,
                             bytes(std::string_view(data).substr(700000))))
              .ok());
  REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 0,
                             bytes(std::string_view(data).substr(0, 700000))))
              .ok());
  REQUIRE(sync_wait(fs.flush(c->entry.attr.ino, c->fh)).ok());
  CHECK(mock.calls.put == 0);
  CHECK(mock.parts_uploaded == 6);
  CHECK(mock.open_uploads() == 0);
  REQUIRE(mock.find("root/big.bin") != nullptr);
  CHECK(mock.find("root/big.bin")->data == data);
  fs.release(c->entry.attr.ino, c->fh);
  sync_wait(fs.close());
}

TEST_CASE("a failed upload is reported with its errno, aborts its parts and loses nothing") {
  test::mock_client mock;
  test::fault_client faults(mock);
  fs_options o = multipart_opts(200 << 10, 100 << 10);
  filesystem fs(faults, o);
  faults.add(
      {test::fault_client::put, "", 3, test::fault_client::oss_error(500, "InternalError", EIO)});

  auto small = sync_wait(fs.create(root, "small"));
  auto big = sync_wait(fs.create(root, "big"));
  REQUIRE(small.ok());
  REQUIRE(big.ok());
  const std::string data = pattern(450 << 10);  // 5 parts: the 3rd fails
  REQUIRE(sync_wait(fs.write(big->entry.attr.ino, big->fh, 0, bytes(data))).ok());
  auto st = sync_wait(fs.flush(big->entry.attr.ino, big->fh));
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == EIO);
  CHECK(mock.open_uploads() == 0);  // aborted, not left billed
  CHECK(mock.find("root/big") == nullptr);
  CHECK(fs.counters().upload_failures == 1);

  faults.clear();
  faults.add({test::fault_client::put, "small", 1,
              test::fault_client::oss_error(403, "AccessDenied", EACCES)});
  REQUIRE(sync_wait(fs.write(small->entry.attr.ino, small->fh, 0, bytes("abc"))).ok());
  auto denied = sync_wait(fs.flush(small->entry.attr.ino, small->fh));
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.err().code == EACCES);

  // The next flush (fsync, another close) uploads the same bytes.
  faults.clear();
  REQUIRE(sync_wait(fs.flush(big->entry.attr.ino, big->fh)).ok());
  REQUIRE(sync_wait(fs.flush(small->entry.attr.ino, small->fh)).ok());
  CHECK(mock.find("root/big")->data == data);
  CHECK(mock.find("root/small")->data == "abc");
  fs.release(big->entry.attr.ino, big->fh);
  fs.release(small->entry.attr.ino, small->fh);
  sync_wait(fs.close());
}

TEST_CASE("truncate without an open file resizes the object at once") {
  test::mock_client mock;
  mock.put("root/t", "0123456789");
  filesystem fs(mock, rw_opts());
  uint64_t ino = sync_wait(fs.lookup(root, "t"))->attr.ino;
  auto a = sync_wait(fs.setattr(ino, 4));
  REQUIRE(a.ok());
  CHECK(a->attr.size == 4);
  CHECK(mock.find("root/t")->data == "0123");
  CHECK(mock.get_log.back().length == 4u);  // only the bytes kept were read
  auto grown = sync_wait(fs.setattr(ino, 6));
  REQUIRE(grown.ok());
  CHECK(mock.find("root/t")->data == std::string("0123\0\0", 6));
  // Other attributes (chmod, touch) are accepted and change nothing.
  const unsigned puts = mock.calls.put;
  REQUIRE(sync_wait(fs.setattr(ino, std::nullopt)).ok());
  CHECK(mock.calls.put == puts);
  sync_wait(fs.close());
}

TEST_CASE("unlink deletes the object; a file never uploaded, or unlinked while open, stays gone") {
  test::mock_client mock;
  mock.put("root/old", "x");
  filesystem fs(mock, rw_opts());
  REQUIRE(sync_wait(fs.lookup(root, "old")).ok());
  REQUIRE(sync_wait(fs.unlink(root, "old")).ok());
  CHECK(mock.find("root/old") == nullptr);
  CHECK(sync_wait(fs.lookup(root, "old")).err().code == ENOENT);

  const unsigned calls = mock.calls.total();
  auto c = sync_wait(fs.create(root, "tmp"));
  REQUIRE(c.ok());
  REQUIRE(sync_wait(fs.unlink(root, "tmp")).ok());
  CHECK(mock.calls.total() == calls);  // existed only here
  // Writes and the close of the unlinked file do not bring it back.
  REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 0, bytes("late"))).ok());
  REQUIRE(sync_wait(fs.flush(c->entry.attr.ino, c->fh)).ok());
  fs.release(c->entry.attr.ino, c->fh);
  sync_wait(fs.close());
  CHECK(mock.find("root/tmp") == nullptr);
  CHECK(mock.calls.put == 0);
}

TEST_CASE("mkdir writes a marker; rmdir refuses a non-empty directory and removes an empty one") {
  test::mock_client mock;
  mock.put("root/full/a", "1");
  filesystem fs(mock, rw_opts());
  auto d = sync_wait(fs.mkdir(root, "d"));
  REQUIRE(d.ok());
  CHECK((d->attr.mode & S_IFMT) == S_IFDIR);
  REQUIRE(mock.find("root/d/") != nullptr);
  // A new directory's listing is known: creating in it needs no LIST.
  const unsigned lists = mock.calls.list;
  auto in = sync_wait(fs.create(d->attr.ino, "in"));
  REQUIRE(in.ok());
  CHECK(sync_wait(fs.rmdir(root, "d")).err().code == ENOTEMPTY);  // a file still being written
  REQUIRE(sync_wait(fs.unlink(d->attr.ino, "in")).ok());
  CHECK(mock.calls.list == lists);
  REQUIRE(sync_wait(fs.rmdir(root, "d")).ok());
  CHECK(mock.find("root/d/") == nullptr);

  REQUIRE(sync_wait(fs.lookup(root, "full")).ok());
  CHECK(sync_wait(fs.rmdir(root, "full")).err().code == ENOTEMPTY);
  CHECK(mock.find("root/full/a") != nullptr);
  fs.release(in->entry.attr.ino, in->fh);
  sync_wait(fs.close());
}

TEST_CASE("names OSS cannot hold, and a read-only file system, are refused with their errno") {
  test::mock_client mock;
  filesystem fs(mock, rw_opts());
  CHECK(sync_wait(fs.create(root, std::string(256, 'n'))).err().code == ENAMETOOLONG);
  // 1,023 bytes of key at most: "root/" + 5 directories of 200 + a name of 200 is too long.
  uint64_t dir = root;
  for (int i = 0; i < 5; ++i) {
    auto d = sync_wait(fs.mkdir(dir, std::string(200, static_cast<char>('a' + i))));
    REQUIRE(d.ok());
    dir = d->attr.ino;
  }
  CHECK(sync_wait(fs.create(dir, std::string(200, 'z'))).err().code == ENAMETOOLONG);
  auto ok = sync_wait(fs.create(dir, std::string(10, 'z')));
  REQUIRE(ok.ok());
  fs.release(ok->entry.attr.ino, ok->fh);
  sync_wait(fs.close());

  mock.put("root/ro", "x");
  fs_options o = rw_opts();
  o.writable = false;
  filesystem ro(mock, o);
  uint64_t ino = sync_wait(ro.lookup(root, "ro"))->attr.ino;
  CHECK(sync_wait(ro.create(root, "n")).err().code == EROFS);
  CHECK(sync_wait(ro.open(ino, O_WRONLY)).err().code == EROFS);
  CHECK(sync_wait(ro.mkdir(root, "d")).err().code == EROFS);
  CHECK(sync_wait(ro.unlink(root, "ro")).err().code == EROFS);
  CHECK(sync_wait(ro.rename(root, "ro", root, "r2", 0)).err().code == EROFS);
  CHECK(sync_wait(ro.setattr(ino, 0)).err().code == EROFS);
  CHECK(mock.find("root/ro")->data == "x");
}

TEST_CASE("files still open for writing when the mount stops are uploaded, not lost") {
  test::mock_client mock;
  auto fs = std::make_unique<filesystem>(mock, rw_opts());
  auto c = sync_wait(fs->create(root, "open-at-stop"));
  REQUIRE(c.ok());
  REQUIRE(sync_wait(fs->write(c->entry.attr.ino, c->fh, 0, bytes("unsaved"))).ok());
  auto gone = sync_wait(fs->create(root, "unlinked-at-stop"));
  REQUIRE(gone.ok());
  REQUIRE(sync_wait(fs->write(gone->entry.attr.ino, gone->fh, 0, bytes("x"))).ok());
  REQUIRE(sync_wait(fs->unlink(root, "unlinked-at-stop")).ok());
  sync_wait(fs->close());
  fs.reset();
  REQUIRE(mock.find("root/open-at-stop") != nullptr);
  CHECK(mock.find("root/open-at-stop")->data == "unsaved");
  CHECK(mock.find("root/unlinked-at-stop") == nullptr);
}

TEST_CASE("background uploads: close returns at once; fsync, unlink and unmount wait for them") {
  test::mock_client mock;
  fs_options o = rw_opts();
  o.background_upload = true;
  o.background_uploads = 2;
  filesystem fs(mock, o);
  mock.park_puts = true;
  auto create_written = [&](const char* name) {
    auto c = sync_wait(fs.create(root, name));
    REQUIRE(c.ok());
    REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 0, bytes(name))).ok());
    return *c;
  };
  auto a = create_written("a");
  auto b = create_written("b");
  auto c = create_written("c");
  REQUIRE(sync_wait(fs.flush(a.entry.attr.ino, a.fh)).ok());  // returns with its PUT parked
  REQUIRE(sync_wait(fs.flush(b.entry.attr.ino, b.fh)).ok());
  CHECK(mock.calls.put == 2);
  // Two uploads in flight is the limit: this close uploads itself, and waits.
  auto closing_c = test::start(fs.flush(c.entry.attr.ino, c.fh));
  CHECK_FALSE(closing_c.done());
  // Meanwhile the files read as written, from their staged copies.
  auto r = sync_wait(fs.open(a.entry.attr.ino, O_RDONLY));
  REQUIRE(r.ok());
  CHECK(read_all(fs, a.entry.attr.ino, r->fh) == "a");
  fs.release(a.entry.attr.ino, r->fh);
  auto syncing_a = test::start(fs.fsync(a.entry.attr.ino, a.fh));
  CHECK_FALSE(syncing_a.done());  // fsync waits for OSS's answer
  mock.release_parked();
  REQUIRE(closing_c.done());
  REQUIRE(syncing_a.done());
  CHECK(closing_c.get().ok());
  CHECK(syncing_a.get().ok());
  CHECK(mock.find("root/a")->data == "a");
  CHECK(mock.find("root/b")->data == "b");
  CHECK(mock.find("root/c")->data == "c");
  CHECK(mock.calls.put == 3);

  // An unlink waits for the upload running after a close, then deletes: it does not come back.
  mock.park_puts = true;
  auto d = create_written("d");
  REQUIRE(sync_wait(fs.flush(d.entry.attr.ino, d.fh)).ok());
  auto unlinking = test::start(fs.unlink(root, "d"));
  CHECK_FALSE(unlinking.done());
  mock.release_parked();
  REQUIRE(unlinking.done());
  CHECK(unlinking.get().ok());
  CHECK(mock.find("root/d") == nullptr);

  // Unmount: a background upload still running is finished, not dropped.
  mock.park_puts = true;
  auto e = create_written("e");
  REQUIRE(sync_wait(fs.flush(e.entry.attr.ino, e.fh)).ok());
  for (auto* h : {&a, &b, &c, &d, &e}) {
    fs.release(h->entry.attr.ino, h->fh);
  }
  auto closing = test::start(fs.close());
  CHECK_FALSE(closing.done());
  mock.release_parked();
  REQUIRE(closing.done());
  CHECK(mock.find("root/e")->data == "e");
}

TEST_CASE("a large file written in order sends its parts while it is written") {
  test::mock_client mock;
  fs_options o = multipart_opts(1 << 20, 256 << 10);
  filesystem fs(mock, o);
  auto c = sync_wait(fs.create(root, "stream.bin"));
  REQUIRE(c.ok());
  const uint64_t ino = c->entry.attr.ino;
  const std::string data = pattern((1 << 20) + (700 << 10));  // 6 full parts and a short one
  write_in_pieces(fs, ino, c->fh, data, 64 << 10);
  // Every part the writer has passed is already in OSS's hands; the close sends the last one.
  CHECK(mock.parts_uploaded == 6);
  CHECK(mock.open_uploads() == 1);
  REQUIRE(sync_wait(fs.flush(ino, c->fh)).ok());
  CHECK(mock.parts_uploaded == 7);
  CHECK(mock.open_uploads() == 0);
  REQUIRE(mock.find("root/stream.bin") != nullptr);
  CHECK(mock.find("root/stream.bin")->data == data);
  // Appending after the close streams a new upload of the whole file.
  const std::string more = pattern(300 << 10);
  REQUIRE(sync_wait(fs.write(ino, c->fh, data.size(), bytes(more))).ok());
  REQUIRE(sync_wait(fs.flush(ino, c->fh)).ok());
  CHECK(mock.find("root/stream.bin")->data == data + more);
  CHECK(mock.open_uploads() == 0);
  fs.release(ino, c->fh);
  sync_wait(fs.close());
}

TEST_CASE("a part stream is dropped, never used, when the file changes behind it") {
  test::mock_client mock;
  test::fault_client faults(mock);
  fs_options o = multipart_opts(1 << 20, 256 << 10);
  filesystem fs(faults, o);
  const std::string data = pattern(1536 << 10);
  auto write_all = [&](const char* name) {
    auto c = sync_wait(fs.create(root, name));
    REQUIRE(c.ok());
    write_in_pieces(fs, c->entry.attr.ino, c->fh, data, 128 << 10);
    return *c;
  };
  // A seek back rewrites bytes of a part already sent.
  auto a = write_all("seek");
  REQUIRE(mock.parts_uploaded > 0);
  REQUIRE(sync_wait(fs.write(a.entry.attr.ino, a.fh, 10, bytes("CHANGED"))).ok());
  REQUIRE(sync_wait(fs.flush(a.entry.attr.ino, a.fh)).ok());
  std::string expect = data;
  expect.replace(10, 7, "CHANGED");
  CHECK(mock.find("root/seek")->data == expect);
  CHECK(mock.open_uploads() == 0);  // the stream was aborted
  // A truncate.
  auto t = write_all("trunc");
  REQUIRE(sync_wait(fs.setattr(t.entry.attr.ino, 300 << 10)).ok());
  REQUIRE(sync_wait(fs.flush(t.entry.attr.ino, t.fh)).ok());
  CHECK(mock.find("root/trunc")->data == data.substr(0, 300 << 10));
  CHECK(mock.open_uploads() == 0);
  // A part that failed: the close uploads the whole file instead.
  faults.add({test::fault_client::put, "failing", 2,
              test::fault_client::oss_error(500, "InternalError", EIO)});
  auto f = write_all("failing");
  faults.clear();
  REQUIRE(sync_wait(fs.flush(f.entry.attr.ino, f.fh)).ok());
  CHECK(mock.find("root/failing")->data == data);
  CHECK(mock.open_uploads() == 0);
  // Unlinked while streaming: aborted, nothing left in OSS.
  auto u = write_all("gone");
  REQUIRE(sync_wait(fs.unlink(root, "gone")).ok());
  CHECK(mock.open_uploads() == 0);
  CHECK(mock.find("root/gone") == nullptr);
  for (auto* h : {&a, &t, &f, &u}) {
    fs.release(h->entry.attr.ino, h->fh);
  }
  sync_wait(fs.close());
  CHECK(mock.open_uploads() == 0);
}

TEST_CASE("files are staged in the staging folder, or in memory when it cannot hold them") {
  // Where this process's open files point: an unnamed file in DIR reads "DIR/#inode (deleted)",
  // a memfd "/memfd:ossuring-staged (deleted)".
  auto open_files_starting = [](const std::string& prefix) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (std::filesystem::read_symlink(e.path(), ec).string().starts_with(prefix)) {
        ++n;
      }
    }
    return n;
  };
  for (const char* dir : {"/var/tmp", "/nonexistent-ossuring-staging"}) {
    CAPTURE(dir);
    const bool on_disk = std::string_view(dir) == "/var/tmp";
    const std::string where = on_disk ? "/var/tmp/#" : "/memfd:ossuring-staged";
    const int before = open_files_starting(where);
    test::mock_client mock;
    fs_options o = rw_opts();
    o.staging_dir = dir;
    filesystem fs(mock, o);
    auto c = sync_wait(fs.create(root, "staged"));
    REQUIRE(c.ok());
    CHECK(open_files_starting(where) == before + 1);
    REQUIRE(sync_wait(fs.write(c->entry.attr.ino, c->fh, 0, bytes("on disk or not"))).ok());
    REQUIRE(sync_wait(fs.flush(c->entry.attr.ino, c->fh)).ok());
    CHECK(mock.find("root/staged")->data == "on disk or not");
    fs.release(c->entry.attr.ino, c->fh);
    sync_wait(fs.close());
  }
}
