// Listings against a server whose pages do not advance (a repeated continuation token, start-after
// ignored, keys out of order) or carry keys outside the asked prefix: every listing ends, with EIO
// naming the bucket, prefix and request id, after a bounded number of requests.
#include <doctest/doctest.h>

#include <algorithm>
#include <coroutine>
#include <cstdio>
#include <map>

#include "core/log.hh"
#include "fs/filesystem.hh"
#include "http/oss/list_guard.hh"
#include "tests/fs/fs_reads.hh"
#include "tests/support/log_capture.hh"
#include "tests/support/mock_client.hh"
#include "tests/support/sync_wait.hh"

using namespace ossuring;
using namespace ossuring::fs;
using test::index_opts;
using test::lazy_opts;
using test::list_dir;
using test::sync_wait;

namespace {

// The mock bucket behind a server that misbehaves in one chosen way.
struct hostile_lister : test::mock_client {
  enum class mode { same_token, ignore_start_after, reversed, foreign_keys };
  mode m = mode::same_token;
  std::vector<std::string> foreign;       // keys added to every page (foreign_keys)
  std::map<std::string, uint64_t> sizes;  // listed sizes instead of the real ones, by key

  task<result<oss::list_page>> list_objects_v2(const oss::list_request& req,
                                               abort_source* abort) override {
    if (calls.list >= 500) {
      // Without the checks the listing would go on forever: end it so the test fails instead.
      co_return make_error(ELOOP, "hostile lister: the listing never ended");
    }
    oss::list_request r = req;
    if (m == mode::same_token) {
      r.continuation_token.clear();  // every page is the first one again
    }
    if (m == mode::ignore_start_after) {
      r.start_after.clear();
    }
    auto page = co_await mock_client::list_objects_v2(r, abort);
    if (!page) {
      co_return page;
    }
    if (m == mode::same_token && page->truncated) {
      page->next_continuation_token = "same";
    }
    if (m == mode::reversed) {
      std::reverse(page->objects.begin(), page->objects.end());
    }
    if (m == mode::foreign_keys || !sizes.empty()) {
      std::vector<oss::object_info> all;
      for (const auto& o : page->objects) {
        auto size = sizes.find(std::string(o.key));
        all.push_back({std::string(o.key), size == sizes.end() ? o.size : size->second, o.mtime_sec,
                       0, std::string(o.etag)});
      }
      for (const auto& k : foreign) {
        all.push_back({k, 1, 1700000000, 0, "E"});
      }
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
      oss::list_page rebuilt = oss::make_list_page(all);
      page->objects = std::move(rebuilt.objects);
      page->text = std::move(rebuilt.text);
    }
    co_return page;
  }
};

// A server that never answers a listing: each call waits until its caller aborts it.
struct silent_lister : test::mock_client {
  unsigned waiting = 0;
  struct stall {
    abort_source* abort;
    abort_subscription sub;
    bool await_ready() const noexcept { return abort != nullptr && abort->aborted(); }
    void await_suspend(std::coroutine_handle<> h) {
      if (abort != nullptr) {
        sub.subscribe(abort, [h] { h.resume(); });
      }
    }
    void await_resume() const noexcept {}
  };
  task<result<oss::list_page>> list_objects_v2(const oss::list_request&,
                                               abort_source* abort) override {
    ++calls.list;
    ++waiting;
    stall s{abort, {}};
    co_await s;
    --waiting;
    co_return make_error(ECANCELED, "request cancelled");
  }
};

void fill(test::mock_client& mock, const std::string& dir, int n) {
  for (int i = 0; i < n; ++i) {
    mock.put(dir + "f" + std::to_string(1000 + i), "x");
  }
}

}  // namespace

TEST_CASE("index build: the same continuation token on every page fails the build with EIO") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::same_token;
  fill(mock, "ds/a/", 50);
  fs_options o = index_opts();
  o.list_page_size = 10;
  filesystem fs(mock, o);
  auto st = sync_wait(fs.build_index());
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == EIO);
  CHECK(st.err().message.find("oss://b/ds/") != std::string::npos);
  CHECK(st.err().message.find("does not advance") != std::string::npos);
  CHECK(st.err().request_id.starts_with("mock-"));
  // Each listing stops at its second page at the latest: one per range, two pages each.
  CHECK(mock.calls.list <= 2 * (o.list_parallelism + 1));
}

TEST_CASE("index build: a server ignoring start-after fails the parallel build, not loops") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::ignore_start_after;
  fill(mock, "ds/a/", 30);
  fill(mock, "ds/z/", 30);
  fs_options o = index_opts();
  o.list_page_size = 10;
  filesystem fs(mock, o);
  auto st = sync_wait(fs.build_index());
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == EIO);
  CHECK(st.err().message.find("is not after") != std::string::npos);
  CHECK(mock.calls.list <= 2 * (o.list_parallelism + 1));

  // One listing never asks with start-after: that server indexes fine.
  mock.calls = {};
  o.list_parallelism = 1;
  filesystem one(mock, o);
  auto ok = sync_wait(one.build_index());
  REQUIRE(ok.ok());
  CHECK(ok->objects == 60);
  CHECK(mock.calls.list == 6);
}

TEST_CASE("index build: keys out of order in a page fail the build with EIO") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::reversed;
  fill(mock, "ds/", 5);
  filesystem fs(mock, index_opts());
  auto st = sync_wait(fs.build_index());
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == EIO);
  CHECK(mock.calls.list == 1);
}

TEST_CASE("lazy ls: the same continuation token on every page answers EIO after two pages") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::same_token;
  fill(mock, "root/d/", 25);
  fs_options o = lazy_opts();
  o.list_page_size = 10;
  filesystem fs(mock, o);
  auto d = sync_wait(fs.lookup(fs::index::root_ino, "d"));
  REQUIRE(d.ok());
  mock.calls = {};
  auto fh = sync_wait(fs.opendir(d->attr.ino));
  REQUIRE_FALSE(fh.ok());
  CHECK(fh.err().code == EIO);
  CHECK(fh.err().message.find("oss://b/root/d/") != std::string::npos);
  CHECK(fh.err().message.find("seen before") != std::string::npos);
  CHECK_FALSE(fh.err().request_id.empty());
  CHECK(mock.calls.list == 2);
}

TEST_CASE("lazy ls: keys outside the directory's prefix or shorter than it are skipped") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::foreign_keys;
  mock.foreign = {"root/", "root/c", "zzz/other"};
  fill(mock, "root/d/", 3);
  filesystem fs(mock, lazy_opts());
  auto d = sync_wait(fs.lookup(fs::index::root_ino, "d"));
  REQUIRE(d.ok());
  auto names = list_dir(fs, d->attr.ino, true);
  CHECK(names == std::vector<std::string>{".", "..", "f1000", "f1001", "f1002"});
  CHECK(sync_wait(fs.lookup(d->attr.ino, "other")).err().code == ENOENT);
}

TEST_CASE("index build: keys outside the prefix in an advancing page are skipped") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::foreign_keys;
  mock.foreign = {"dr", "ds", "dt/x"};
  fill(mock, "ds/", 3);
  filesystem fs(mock, index_opts());
  auto st = sync_wait(fs.build_index());
  REQUIRE(st.ok());
  CHECK(st->objects == 3);
}

TEST_CASE("list_guard: tokens, order, start-after and common prefixes") {
  oss::list_request req;
  req.prefix = "p/";
  req.start_after = "p/m/x";
  oss::list_guard g("b", req);
  auto page_of = [](std::vector<std::string> keys, std::vector<std::string> cps, std::string tok) {
    std::vector<oss::object_info> info;
    for (auto& k : keys) {
      info.push_back({k});
    }
    oss::list_page p = oss::make_list_page(info);
    p.common_prefixes = std::move(cps);
    p.truncated = !tok.empty();
    p.next_continuation_token = std::move(tok);
    p.request_id = "R1";
    return p;
  };
  auto p1 = page_of({"p/n", "p/o"}, {"p/m/"}, "t1");  // start-after inside p/m/ rolls up into it
  CHECK(g.check(p1).ok());
  auto p2 = page_of({"p/o"}, {}, "t2");  // the last key again
  auto bad = g.check(p2);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().code == EIO);
  CHECK(bad.err().request_id == "R1");
  CHECK(bad.err().message.find("oss://b/p/") != std::string::npos);

  oss::list_guard g2("b", req);
  auto q1 = page_of({"p/n"}, {}, "t1");
  CHECK(g2.check(q1).ok());
  auto q2 = page_of({"p/q", "q"}, {}, "t1");  // a token seen before
  CHECK_FALSE(g2.check(q2).ok());

  oss::list_guard g3("b", req);
  auto r1 = page_of({"p/n", "p/z", "q/a"}, {"p/y/", "pp/"}, "");
  CHECK(g3.check(r1).ok());
  CHECK(r1.objects.size() == 2);
  CHECK(r1.common_prefixes == std::vector<std::string>{"p/y/"});
  CHECK(g3.skipped() == 2);
  CHECK(g3.first_skipped() == "q/a");
}

TEST_CASE("abort_listings (a signal while indexing) ends an index build at once with ECANCELED") {
  silent_lister mock;
  filesystem fs(mock, index_opts());
  auto build = test::start(fs.build_index());
  REQUIRE_FALSE(build.done());
  CHECK(mock.waiting == 1);
  fs.abort_listings();
  REQUIRE(build.done());
  auto st = build.get();
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == ECANCELED);
  CHECK(mock.waiting == 0);
  CHECK(mock.calls.list == 1);
}

TEST_CASE("index build: a <Size> of 2^63 or 2^64-1 skips the key, counted and logged") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::foreign_keys;  // pages rebuilt with the listed sizes below
  mock.put("ds/big63", "x");
  mock.put("ds/big64", "x");
  mock.put("ds/fine", "x");
  mock.put("ds/d/", "");  // a marker: its size is not a file's
  mock.sizes = {{"ds/big63", uint64_t{1} << 63},
                {"ds/big64", UINT64_MAX},
                {"ds/d/", UINT64_MAX},
                {"ds/fine", uint64_t{INT64_MAX}}};
  test::log_capture log("hostile");
  filesystem fs(mock, index_opts());
  auto st = sync_wait(fs.build_index());
  REQUIRE(st.ok());
  CHECK(st->skipped_keys == 2);
  CHECK(st->first_skipped == "ds/big63");
  CHECK(log.text().find("index_skipped_keys") != std::string::npos);
  CHECK(list_dir(fs, fs::index::root_ino, true) ==
        std::vector<std::string>{".", "..", "d", "fine"});
  CHECK(sync_wait(fs.lookup(fs::index::root_ino, "big63")).err().code == ENOENT);
  // The largest size stat can show is still a file.
  auto fine = sync_wait(fs.lookup(fs::index::root_ino, "fine"));
  REQUIRE(fine.ok());
  CHECK(fine->attr.size == uint64_t{INT64_MAX});
}

TEST_CASE("lazy mode: a <Size> stat cannot show is skipped in ls and lookups, and logged") {
  hostile_lister mock;
  mock.m = hostile_lister::mode::foreign_keys;
  mock.put("root/d/big63", "x");
  mock.put("root/d/big64", "x");
  mock.put("root/d/fine", "x");
  mock.sizes = {{"root/d/big63", uint64_t{1} << 63}, {"root/d/big64", UINT64_MAX}};
  test::log_capture log("hostile");
  filesystem fs(mock, lazy_opts());
  auto d = sync_wait(fs.lookup(fs::index::root_ino, "d"));
  REQUIRE(d.ok());
  // A lookup before any listing: one LIST with the name as prefix.
  auto direct = sync_wait(fs.lookup(d->attr.ino, "big64"));
  REQUIRE_FALSE(direct.ok());
  CHECK(direct.err().code == ENOENT);
  CHECK(list_dir(fs, d->attr.ino, true) == std::vector<std::string>{".", "..", "fine"});
  CHECK(sync_wait(fs.lookup(d->attr.ino, "big63")).err().code == ENOENT);
  std::string text = log.text();
  CHECK(text.find("list_size_refused") != std::string::npos);
  CHECK(text.find("18446744073709551615") != std::string::npos);
  CHECK(text.find("9223372036854775808") != std::string::npos);
}

TEST_CASE("an ETag of 300 or 4,000 bytes is kept whole: reads send it and succeed") {
  test::mock_client mock;
  std::string body(3000, 'b');  // above index_opts' small-file threshold: ranged GETs too
  for (size_t n : {size_t{300}, size_t{4000}}) {
    std::string etag(n, 'E');
    for (size_t i = 0; i < n; ++i) {
      etag[i] = "0123456789ABCDEF-"[i % 17];
    }
    mock.put("ds/small" + std::to_string(n), "s");
    mock.put_etag("ds/small" + std::to_string(n), etag);
    mock.put("ds/large" + std::to_string(n), body);
    mock.put_etag("ds/large" + std::to_string(n), etag);
  }
  filesystem fs(mock, index_opts());
  REQUIRE(sync_wait(fs.build_index()).ok());
  for (size_t n : {size_t{300}, size_t{4000}}) {
    CAPTURE(n);
    for (std::string name : {"small", "large"}) {
      auto e = sync_wait(fs.lookup(fs::index::root_ino, name + std::to_string(n)));
      REQUIRE(e.ok());
      CHECK(test::cat_ino(fs, e->attr.ino, 1000) == (name == "small" ? "s" : body));
      CHECK(mock.get_log.back().if_match.size() == n);
    }
  }
  // Lazy mode keeps it too.
  test::mock_client lazy_mock;
  lazy_mock.put("root/f", body);
  lazy_mock.put_etag("root/f", std::string(500, 'L'));
  filesystem lazy(lazy_mock, lazy_opts());
  auto f = sync_wait(lazy.lookup(fs::index::root_ino, "f"));
  REQUIRE(f.ok());
  CHECK(test::cat_ino(lazy, f->attr.ino, 1000) == body);
}
