// filesystem in index mode against the mock: request counts, reads, shared GETs, integrity.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "fs/filesystem.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/fault_client.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::index_opts;
using test::list_dir;
using test::start;
using test::sync_wait;

namespace {

std::string read_all(filesystem& fs, uint64_t ino, uint64_t fh, size_t chunk, size_t size) {
  std::string out;
  std::vector<std::byte> buf(chunk);
  for (uint64_t off = 0;; off += chunk) {
    auto n = sync_wait(fs.read(ino, fh, off, buf));
    REQUIRE(n.ok());
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
    if (*n < chunk || out.size() >= size) {
      break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("after build_index, lookups, getattr and readdir send zero requests") {
  test::mock_client mock;
  for (int i = 0; i < 2500; ++i) {
    mock.put("ds/train/img" + std::to_string(i) + ".jpg", "x");
  }
  mock.put("ds/readme.txt", "hello");
  mock.put("other/ignored", "y");
  filesystem fs(mock, index_opts());
  auto st = sync_wait(fs.build_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 2501);
  CHECK(mock.calls.list >= 3);  // 2501 keys need at least 3 pages of 1000
  CHECK(mock.calls.total() == mock.calls.list);

  const auto before = mock.calls.total();
  auto train = sync_wait(fs.lookup(fs::index::root_ino, "train"));
  REQUIRE(train.ok());
  CHECK((train->attr.mode & S_IFMT) == S_IFDIR);
  for (int i = 0; i < 2500; i += 7) {
    auto e = sync_wait(fs.lookup(train->attr.ino, "img" + std::to_string(i) + ".jpg"));
    REQUIRE(e.ok());
    CHECK(e->attr.size == 1);
    CHECK((e->attr.mode & 0777) == 0444);
    CHECK(sync_wait(fs.getattr(e->attr.ino))->attr.size == 1);
  }
  CHECK(sync_wait(fs.lookup(train->attr.ino, "missing.jpg")).err().code == ENOENT);
  auto names = list_dir(fs, train->attr.ino, true);
  CHECK(names.size() == 2502);
  CHECK(names[0] == ".");
  CHECK(std::is_sorted(names.begin() + 2, names.end()));
  CHECK(mock.calls.total() == before);
}

TEST_CASE("build_index splits the key space over parallel listings without losing keys") {
  test::mock_client mock;
  std::set<std::string> keys;
  for (char c : std::string("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
    for (int i = 0; i < 300; ++i) {
      std::string k = std::string("ds/") + c + "/obj" + std::to_string(i);
      mock.put(k, "z");
      keys.insert(k);
    }
  }
  mock.put("ds/\xe4\xb8\xad\xe6\x96\x87/x", "z");  // beyond ASCII: covered by the last range
  keys.insert("ds/\xe4\xb8\xad\xe6\x96\x87/x");
  filesystem fs(mock, index_opts());
  auto st = sync_wait(fs.build_index());
  REQUIRE(st.ok());
  CHECK(st->objects == keys.size());
  CHECK(st->duplicates == 0);
  std::set<std::string> starts;
  for (const auto& r : mock.list_log) {
    if (r.continuation_token.empty()) {
      starts.insert(r.start_after);
    }
  }
  CHECK(starts.size() > 1);  // more than one range was listed
  const fs::index& idx = fs.current_index();
  for (const auto& k : keys) {
    std::string rel = k.substr(3);
    auto d = idx.lookup(fs::index::root_ino, rel.substr(0, rel.find('/')));
    REQUIRE(d);
    CHECK(idx.lookup(*d, rel.substr(rel.find('/') + 1)));
  }
}

TEST_CASE("N small reads send exactly N GETs and return the bytes") {
  test::mock_client mock;
  for (int i = 0; i < 20; ++i) {
    mock.put("ds/f" + std::to_string(i), "content-" + std::to_string(i));
  }
  mock.put("ds/empty", "");
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  const auto gets_before = mock.calls.get;
  for (int i = 0; i < 20; ++i) {
    auto e = sync_wait(fs.lookup(fs::index::root_ino, "f" + std::to_string(i)));
    REQUIRE(e.ok());
    auto o = sync_wait(fs.open(e->attr.ino, O_RDONLY));
    REQUIRE(o.ok());
    CHECK(o->keep_cache);
    CHECK(read_all(fs, e->attr.ino, o->fh, 4, 100) == "content-" + std::to_string(i));
    fs.release(e->attr.ino, o->fh);
  }
  CHECK(mock.calls.get - gets_before == 20);
  for (const auto& g : mock.get_log) {
    CHECK(g.if_match == mock.find(g.key)->etag);  // pinned to the indexed ETag
    CHECK_FALSE(g.length);                        // whole-object GET
  }
  // A second round is served from the blob store; an empty file never needs a GET.
  auto e = sync_wait(fs.lookup(fs::index::root_ino, "f3"));
  auto o = sync_wait(fs.open(e->attr.ino, O_RDONLY));
  REQUIRE(o.ok());
  auto z = sync_wait(fs.lookup(fs::index::root_ino, "empty"));
  auto oz = sync_wait(fs.open(z->attr.ino, O_RDONLY));
  REQUIRE(oz.ok());
  CHECK(read_all(fs, z->attr.ino, oz->fh, 16, 16).empty());
  CHECK(mock.calls.get - gets_before == 20);
  CHECK(sync_wait(fs.open(e->attr.ino, O_WRONLY)).err().code == EROFS);
  CHECK(sync_wait(fs.open(fs::index::root_ino, O_RDONLY)).err().code == EISDIR);
}

TEST_CASE("concurrent opens of one object share one GET") {
  test::mock_client mock;
  mock.put("ds/shared", "the same bytes for everyone");
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, "shared"))->attr.ino;
  mock.park_gets = true;
  auto a = start(fs.open(ino, O_RDONLY));
  auto b = start(fs.open(ino, O_RDONLY));
  auto c = start(fs.open(ino, O_RDONLY));
  CHECK_FALSE(a.done());
  CHECK_FALSE(b.done());
  CHECK(mock.parked() == 1);
  CHECK(mock.calls.get == 1);
  mock.release_parked();
  REQUIRE(a.done());
  REQUIRE(c.done());
  auto ra = a.get();
  auto rb = b.get();
  auto rc = c.get();
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  REQUIRE(rc.ok());
  CHECK(read_all(fs, ino, rb->fh, 64, 64) == "the same bytes for everyone");
  CHECK(mock.calls.get == 1);
  CHECK(fs.counters().shared_fetch_waits == 2);
}

TEST_CASE("an object changed since indexing fails with ESTALE, never mixed data") {
  test::mock_client mock;
  mock.put("ds/small", "old small");
  mock.put("ds/big", std::string(3000, 'a'));
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t small = sync_wait(fs.lookup(fs::index::root_ino, "small"))->attr.ino;
  uint64_t big = sync_wait(fs.lookup(fs::index::root_ino, "big"))->attr.ino;
  auto ob = sync_wait(fs.open(big, O_RDONLY));
  REQUIRE(ob.ok());
  std::vector<std::byte> buf(100);
  REQUIRE(sync_wait(fs.read(big, ob->fh, 0, buf)).ok());

  mock.put("ds/small", "new small");
  mock.put("ds/big", std::string(3000, 'b'));
  CHECK(sync_wait(fs.open(small, O_RDONLY)).err().code == ESTALE);
  // The big file's first window is cached; the next window must not mix in new bytes.
  auto r = sync_wait(fs.read(big, ob->fh, 2000, buf));
  CHECK(r.err().code == ESTALE);
}

TEST_CASE("a CRC-64 mismatch on a whole-object GET is an I/O error") {
  test::mock_client mock;
  mock.put("ds/c", "checked bytes").crc64_override = 12345;
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, "c"))->attr.ino;
  CHECK(sync_wait(fs.open(ino, O_RDONLY)).err().code == EIO);
  mock.find("ds/c")->crc64_override.reset();
  CHECK(sync_wait(fs.open(ino, O_RDONLY)).ok());
}

TEST_CASE("large files are read by ranged GETs whose window grows on sequential reads") {
  test::mock_client mock;
  std::string data;
  for (int i = 0; i < 10000; ++i) {
    data += static_cast<char>('a' + i % 26);
  }
  mock.put("ds/large", data);
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, "large"))->attr.ino;
  auto o = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(o.ok());
  CHECK(mock.calls.get == 0);  // large files are not fetched at open
  CHECK(read_all(fs, ino, o->fh, 100, data.size()) == data);
  REQUIRE(mock.get_log.size() >= 2);
  CHECK(*mock.get_log[0].length == 256);
  // Read-ahead GETs go out before the reader needs them and grow up to readahead_max, each
  // continuing where the previous one ended.
  uint64_t biggest = 0;
  for (size_t i = 1; i < mock.get_log.size(); ++i) {
    CHECK(mock.get_log[i].offset == mock.get_log[i - 1].offset + *mock.get_log[i - 1].length);
    CHECK(*mock.get_log[i].length <= 1024);
    biggest = std::max(biggest, *mock.get_log[i].length);
  }
  CHECK(biggest == 1024);
  CHECK(mock.get_log.size() < 20);  // 10000 bytes in 100-byte reads: far fewer GETs than reads
  // A seek resets the window: the read fetches just what it asked for...
  std::vector<std::byte> buf(10);
  auto before = mock.get_log.size();
  REQUIRE(sync_wait(fs.read(ino, o->fh, 5000, buf)).ok());
  CHECK(mock.get_log.size() == before + 1);
  CHECK(*mock.get_log.back().length == 10);
  CHECK(std::memcmp(buf.data(), data.data() + 5000, 10) == 0);
  // ...until it continues sequentially: then read-ahead starts again at readahead_min.
  REQUIRE(sync_wait(fs.read(ino, o->fh, 5010, buf)).ok());
  CHECK(mock.get_log[before + 1].offset == 5010);
  CHECK(*mock.get_log[before + 1].length == 256);
  CHECK(std::memcmp(buf.data(), data.data() + 5010, 10) == 0);
}

TEST_CASE("the cache-directory blob store hands out an fd for passthrough") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ossuring_fs_blobs_" + std::to_string(getpid()));
  test::mock_client mock;
  mock.put("ds/p", "passthrough me");
  filesystem fs(mock, index_opts(), std::make_unique<directory_blob_store>(dir.string()));
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, "p"))->attr.ino;
  auto o = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(o.ok());
  REQUIRE(o->backing_fd >= 0);
  char buf[32] = {};
  CHECK(::pread(o->backing_fd, buf, sizeof buf, 0) == 14);
  CHECK(std::string(buf) == "passthrough me");
  // A new store over the same directory finds the blob: no GET after a restart.
  directory_blob_store again(dir.string());
  CHECK(again.find(blob_store::blob_id(mock.find("ds/p")->etag, 14)) != nullptr);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an open that passthrough will not use makes no descriptor for its memory blob") {
  // A memory blob's descriptor is a sealed memfd holding a copy of its bytes: made on every
  // open of a 256 MiB file in read mode, it cost more CPU than serving the READs.
  test::mock_client mock;
  mock.put("ds/m", std::string(3000, 'm'));  // a small file: one GET into a blob
  auto opts = test::data_opts();
  opts.backing_files = false;
  auto store = std::make_unique<memory_blob_store>(1 << 20);
  memory_blob_store* blobs = store.get();
  filesystem fs(mock, opts, std::move(store));
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, "m"))->attr.ino;
  auto o = sync_wait(fs.open(ino, O_RDONLY));
  REQUIRE(o.ok());
  CHECK(mock.calls.get == 1);
  CHECK(o->backing_fd == -1);
  CHECK(blobs->stats().descriptors == 0);
  std::vector<std::byte> buf(16);
  REQUIRE(sync_wait(fs.read(ino, o->fh, 100, buf)).ok());
  CHECK(static_cast<char>(buf[0]) == 'm');
  fs.release(ino, o->fh);
}

TEST_CASE("xattrs: ETag and storage class are free, CRC-64 and user metadata cost one HEAD") {
  test::mock_client mock;
  auto& obj = mock.put("ds/x", "xattr data");
  obj.storage_class = "IA";
  obj.user_meta["owner"] = "alice";
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, "x"))->attr.ino;
  auto before = mock.calls.total();
  CHECK(*sync_wait(fs.getxattr(ino, "user.oss.etag")) == obj.etag);
  CHECK(*sync_wait(fs.getxattr(ino, "user.oss.storage_class")) == "IA");
  CHECK(sync_wait(fs.getxattr(ino, "security.capability")).err().code == ENODATA);
  CHECK(mock.calls.total() == before);
  auto crc = sync_wait(fs.getxattr(ino, "user.oss.crc64"));
  REQUIRE(crc.ok());
  CHECK(*sync_wait(fs.getxattr(ino, "user.oss.meta.owner")) == "alice");
  CHECK(sync_wait(fs.getxattr(ino, "user.oss.meta.none")).err().code == ENODATA);
  CHECK(mock.calls.head == 1);
  auto names = sync_wait(fs.listxattr(ino));
  REQUIRE(names.ok());
  CHECK(std::find(names->begin(), names->end(), "user.oss.meta.owner") != names->end());
}

TEST_CASE("OSS failures reach the caller as the mapped errno") {
  test::mock_client mock;
  mock.put("ds/denied", "a");
  mock.put("ds/throttled", "b");
  mock.put("ds/gone", "c");
  test::fault_client faults(mock);
  filesystem fs(faults, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  faults.add({test::fault_client::get, "denied", 1,
              test::fault_client::oss_error(403, "AccessDenied", EIO)});
  faults.add({test::fault_client::get, "throttled", 1,
              test::fault_client::oss_error(503, "TotalQpsLimitExceeded", EAGAIN)});
  mock.erase("ds/gone");
  auto open_errno = [&](const char* name) {
    uint64_t ino = sync_wait(fs.lookup(fs::index::root_ino, name))->attr.ino;
    return sync_wait(fs.open(ino, O_RDONLY)).err().code;
  };
  CHECK(open_errno("denied") == EACCES);
  CHECK(open_errno("throttled") == EIO);
  CHECK(open_errno("gone") == ENOENT);
  CHECK(faults.injected() == 2);

  // A failing listing fails the whole build rather than producing a partial index.
  test::fault_client list_faults(mock);
  list_faults.add(
      {test::fault_client::list, "", 1, test::fault_client::oss_error(403, "AccessDenied", EIO)});
  filesystem fs2(list_faults, index_opts());
  CHECK(sync_wait(fs2.build_index()).err().code == EACCES);
}

TEST_CASE("listing pages ask for list_page_size keys (--max-list-ret-count), index and lazy") {
  test::mock_client mock;
  for (int i = 0; i < 25; ++i) {
    mock.put("ds/d/f" + std::to_string(i), "x");
    mock.put("root/d/f" + std::to_string(i), "x");
  }
  fs_options io = index_opts();
  io.list_page_size = 10;
  io.list_parallelism = 1;  // one listing: its pages are the only ones
  filesystem ifs(mock, io);
  auto st = sync_wait(ifs.build_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 25);
  REQUIRE(mock.list_log.size() == 3);
  for (const auto& r : mock.list_log) {
    CHECK(r.max_keys == 10);
  }

  fs_options lo = test::lazy_opts();
  lo.list_page_size = 10;
  filesystem lfs(mock, lo);
  auto d = sync_wait(lfs.lookup(fs::index::root_ino, "d"));
  REQUIRE(d.ok());
  mock.list_log.clear();
  CHECK(list_dir(lfs, d->attr.ino, true).size() == 27);
  REQUIRE(mock.list_log.size() == 3);
  for (const auto& r : mock.list_log) {
    CHECK(r.max_keys == 10);
  }
}
