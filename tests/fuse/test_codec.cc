// FUSE codec: request decoding (valid, malformed, random bytes) and reply encoding.
#include <doctest/doctest.h>

#include <linux/fs.h>
#include <sys/stat.h>

#include <cstring>
#include <memory>
#include <random>

#include "fs/fuse/codec.hh"

using namespace ossuring;
using namespace ossuring::fs;

namespace {

// Builds a request: header + body bytes; `len` overrides the header length when nonzero.
std::vector<uint8_t> make_req(uint32_t opcode, const void* body, size_t body_len, uint32_t len = 0,
                              uint16_t extlen = 0) {
  std::vector<uint8_t> v(sizeof(fuse_in_header) + body_len);
  fuse_in_header h{};
  h.len = len ? len : static_cast<uint32_t>(v.size());
  h.opcode = opcode;
  h.unique = 77;
  h.nodeid = 5;
  h.uid = 1000;
  h.total_extlen = extlen;
  std::memcpy(v.data(), &h, sizeof h);
  if (body_len) {
    std::memcpy(v.data() + sizeof h, body, body_len);
  }
  return v;
}

template <typename T>
T reply_body(const std::vector<std::byte>& out) {
  T t;
  REQUIRE(out.size() >= sizeof(fuse_out_header) + sizeof(T));
  std::memcpy(&t, out.data() + sizeof(fuse_out_header), sizeof t);
  return t;
}

fuse_out_header reply_header(const std::vector<std::byte>& out) {
  fuse_out_header h;
  std::memcpy(&h, out.data(), sizeof h);
  return h;
}

}  // namespace

TEST_CASE("decode LOOKUP gives header fields and the NUL-terminated name") {
  auto v = make_req(FUSE_LOOKUP, "hello\0", 6);
  auto r = fuse::decode(v.data(), v.size());
  REQUIRE(r.ok());
  CHECK(r->h.unique == 77);
  CHECK(r->h.nodeid == 5);
  CHECK(r->h.uid == 1000);
  auto* l = std::get_if<fuse::req::lookup>(&r->body);
  REQUIRE(l);
  CHECK(l->name == "hello");
}

TEST_CASE("decode refuses malformed requests") {
  SUBCASE("name without NUL") {
    auto v = make_req(FUSE_LOOKUP, "abc", 3);
    CHECK(fuse::decode(v.data(), v.size()).err().code == EINVAL);
  }
  SUBCASE("empty name") {
    auto v = make_req(FUSE_LOOKUP, "\0", 1);
    CHECK_FALSE(fuse::decode(v.data(), v.size()).ok());
  }
  SUBCASE("header shorter than 40 bytes") {
    auto v = make_req(FUSE_LOOKUP, "a\0", 2);
    CHECK_FALSE(fuse::decode(v.data(), 39).ok());
    CHECK_FALSE(fuse::decode(nullptr, 0).ok());
  }
  SUBCASE("length field beyond the buffer") {
    auto v = make_req(FUSE_LOOKUP, "a\0", 2, 1000);
    CHECK_FALSE(fuse::decode(v.data(), v.size()).ok());
  }
  SUBCASE("length field shorter than the header") {
    auto v = make_req(FUSE_STATFS, nullptr, 0, 10);
    CHECK_FALSE(fuse::decode(v.data(), v.size()).ok());
  }
  SUBCASE("extensions longer than the body") {
    fuse_open_in in{};
    auto v = make_req(FUSE_OPEN, &in, sizeof in, 0, 2);
    CHECK_FALSE(fuse::decode(v.data(), v.size()).ok());
  }
  SUBCASE("short READ body") {
    fuse_read_in in{};
    auto v = make_req(FUSE_READ, &in, sizeof in - 1);
    CHECK_FALSE(fuse::decode(v.data(), v.size()).ok());
  }
  SUBCASE("BATCH_FORGET count larger than the body") {
    uint8_t body[sizeof(fuse_batch_forget_in) + sizeof(fuse_forget_one)] = {};
    fuse_batch_forget_in in{2, 0};
    std::memcpy(body, &in, sizeof in);
    auto v = make_req(FUSE_BATCH_FORGET, body, sizeof body);
    CHECK_FALSE(fuse::decode(v.data(), v.size()).ok());
  }
}

TEST_CASE("decode READ, READDIRPLUS, GETXATTR, BATCH_FORGET and INIT with flags2") {
  fuse_read_in rd{};
  rd.fh = 9;
  rd.offset = 4096;
  rd.size = 131072;
  auto v = make_req(FUSE_READDIRPLUS, &rd, sizeof rd);
  auto r = fuse::decode(v.data(), v.size());
  REQUIRE(r.ok());
  auto* d = std::get_if<fuse::req::readdir>(&r->body);
  REQUIRE(d);
  CHECK(d->plus);
  CHECK(d->fh == 9);
  CHECK(d->offset == 4096);
  CHECK(d->size == 131072);

  uint8_t gx[sizeof(fuse_getxattr_in) + 14] = {};
  fuse_getxattr_in gin{64, 0};
  std::memcpy(gx, &gin, sizeof gin);
  std::memcpy(gx + sizeof gin, "user.oss.etag", 14);
  v = make_req(FUSE_GETXATTR, gx, sizeof gx);
  r = fuse::decode(v.data(), v.size());
  REQUIRE(r.ok());
  auto* g = std::get_if<fuse::req::getxattr>(&r->body);
  REQUIRE(g);
  CHECK(g->name == "user.oss.etag");
  CHECK(g->size == 64);

  uint8_t bf[sizeof(fuse_batch_forget_in) + 2 * sizeof(fuse_forget_one)] = {};
  fuse_batch_forget_in bin{2, 0};
  fuse_forget_one ones[2] = {{10, 1}, {11, 3}};
  std::memcpy(bf, &bin, sizeof bin);
  std::memcpy(bf + sizeof bin, ones, sizeof ones);
  v = make_req(FUSE_BATCH_FORGET, bf, sizeof bf);
  r = fuse::decode(v.data(), v.size());
  REQUIRE(r.ok());
  auto* b = std::get_if<fuse::req::batch_forget>(&r->body);
  REQUIRE(b);
  REQUIRE(b->count == 2);
  CHECK(b->at(1) == std::pair<uint64_t, uint64_t>{11, 3});

  fuse_init_in in{};
  in.major = 7;
  in.minor = 45;
  in.flags = FUSE_INIT_EXT | FUSE_ASYNC_READ;
  in.flags2 = 1u << 5;  // passthrough
  v = make_req(FUSE_INIT, &in, sizeof in);
  r = fuse::decode(v.data(), v.size());
  REQUIRE(r.ok());
  auto* i = std::get_if<fuse::req::init>(&r->body);
  REQUIRE(i);
  CHECK(i->minor == 45);
  CHECK((i->flags & abi::init_passthrough) != 0);

  v = make_req(4242, nullptr, 0);
  r = fuse::decode(v.data(), v.size());
  REQUIRE(r.ok());
  CHECK(std::holds_alternative<fuse::req::unsupported>(r->body));
}

TEST_CASE("decode never reads out of bounds on random input") {
  std::mt19937 rng(7);
  const uint32_t ops[] = {FUSE_LOOKUP,  FUSE_GETXATTR, FUSE_BATCH_FORGET, FUSE_INIT,
                          FUSE_READ,    FUSE_OPEN,     FUSE_FORGET,       FUSE_RELEASE,
                          FUSE_READDIR, FUSE_ACCESS,   FUSE_INTERRUPT,    FUSE_FLUSH};
  size_t ok = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    size_t n = rng() % 120;
    // Exact-size heap buffers so a sanitizer build catches any overread.
    auto buf = std::make_unique<uint8_t[]>(n ? n : 1);
    for (size_t i = 0; i < n; ++i) {
      buf[i] = static_cast<uint8_t>(rng());
    }
    if (n >= sizeof(fuse_in_header) && rng() % 2) {
      fuse_in_header h{};
      h.len = static_cast<uint32_t>(n - rng() % 3);
      h.opcode = ops[rng() % std::size(ops)];
      h.total_extlen = static_cast<uint16_t>(rng() % 3);
      std::memcpy(buf.get(), &h, sizeof h);
    }
    ok += fuse::decode(buf.get(), n).ok();
  }
  CHECK(ok > 0);  // some random requests were well formed
}

TEST_CASE("encode entry, attr, open, statfs and errors") {
  std::vector<std::byte> out;
  entry_reply e;
  e.attr.ino = 42;
  e.attr.size = 12345;
  e.attr.mode = 0100444;
  e.entry_timeout = std::chrono::milliseconds(1500);
  e.attr_timeout = std::chrono::seconds(60);
  fuse::encode_entry(out, 9, e);
  CHECK(reply_header(out).len == out.size());
  CHECK(reply_header(out).unique == 9);
  auto eo = reply_body<fuse_entry_out>(out);
  CHECK(eo.nodeid == 42);
  CHECK(eo.attr.size == 12345);
  CHECK(eo.entry_valid == 1);
  CHECK(eo.entry_valid_nsec == 500000000);
  CHECK(eo.attr_valid == 60);

  out.clear();
  fuse::encode_open(out, 3, 17, abi::fopen_passthrough | abi::fopen_noflush, 5);
  auto oo = reply_body<abi::open_out>(out);
  CHECK(oo.fh == 17);
  CHECK(oo.backing_id == 5);
  CHECK(oo.open_flags == (1u << 7 | 1u << 5));

  out.clear();
  fuse::encode_error(out, 4, ENOENT);
  CHECK(out.size() == sizeof(fuse_out_header));
  CHECK(reply_header(out).error == -ENOENT);

  out.clear();
  fuse::encode_negative_entry(out, 5, std::chrono::seconds(3));
  CHECK(reply_body<fuse_entry_out>(out).nodeid == 0);
  CHECK(reply_body<fuse_entry_out>(out).entry_valid == 3);
}

TEST_CASE("xattr replies follow the size protocol") {
  std::vector<std::byte> out;
  fuse::encode_xattr(out, 1, "ABCDEF", 0);
  CHECK(reply_body<fuse_getxattr_out>(out).size == 6);
  out.clear();
  fuse::encode_xattr(out, 1, "ABCDEF", 3);
  CHECK(reply_header(out).error == -ERANGE);
  out.clear();
  fuse::encode_xattr(out, 1, "ABCDEF", 64);
  CHECK(out.size() == sizeof(fuse_out_header) + 6);
  out.clear();
  fuse::encode_xattr_list(out, 1, {"user.a", "user.bb"}, 0);
  CHECK(reply_body<fuse_getxattr_out>(out).size == 15);
}

TEST_CASE("dirent packer aligns records and stops at the size limit") {
  std::vector<std::byte> out;
  fuse::dirent_packer p(out, 11, 80, false);
  dir_entry e;
  e.name = "abc";  // 24 + 3 -> 32 bytes aligned
  e.ino = 5;
  e.next_offset = 3;
  CHECK(p.add(e));
  e.name = "0123456789abcdefg";  // 24 + 17 -> 48 bytes: 32 + 48 = 80 fits exactly
  CHECK(p.add(e));
  e.name = "x";
  CHECK_FALSE(p.add(e));
  p.finish();
  CHECK(p.entries() == 2);
  CHECK(out.size() == sizeof(fuse_out_header) + 80);
  CHECK(reply_header(out).len == out.size());
  fuse_dirent d;
  std::memcpy(&d, out.data() + sizeof(fuse_out_header), sizeof d);
  CHECK(d.namelen == 3);
  CHECK(d.off == 3);
  CHECK(std::memcmp(out.data() + sizeof(fuse_out_header) + FUSE_NAME_OFFSET, "abc", 3) == 0);
  CHECK(out[sizeof(fuse_out_header) + FUSE_NAME_OFFSET + 3] == std::byte{0});  // padding zeroed

  std::vector<std::byte> plus;
  fuse::dirent_packer pp(plus, 12, 4096, true);
  e.name = "file";
  e.attr.ino = 99;
  e.attr.size = 7;
  CHECK(pp.add(e));
  pp.finish();
  fuse_direntplus dp;
  std::memcpy(&dp, plus.data() + sizeof(fuse_out_header), sizeof dp);
  CHECK(dp.entry_out.nodeid == 99);
  CHECK(dp.entry_out.attr.size == 7);
  CHECK(dp.dirent.namelen == 4);
  CHECK(plus.size() == sizeof(fuse_out_header) + FUSE_DIRENT_ALIGN(sizeof(fuse_direntplus) + 4));
}

TEST_CASE("decode of writes: CREATE, WRITE with its data, SETATTR, RENAME2 names, and refusals") {
  {
    std::vector<uint8_t> body(sizeof(fuse_create_in));
    fuse_create_in in{};
    in.flags = 0101;
    in.mode = 0100644;
    std::memcpy(body.data(), &in, sizeof in);
    body.insert(body.end(), {'n', 'e', 'w', 0});
    auto v = make_req(FUSE_CREATE, body.data(), body.size());
    auto r = fuse::decode(v.data(), v.size());
    REQUIRE(r.ok());
    auto* c = std::get_if<fuse::req::create>(&r->body);
    REQUIRE(c);
    CHECK(c->name == "new");
    CHECK(c->flags == 0101);
    CHECK(c->mode == 0100644);
  }
  {
    std::vector<uint8_t> body(sizeof(fuse_write_in));
    fuse_write_in in{};
    in.fh = 9;
    in.offset = 4096;
    in.size = 5;
    std::memcpy(body.data(), &in, sizeof in);
    body.insert(body.end(), {'a', 'b', 'c', 'd', 'e'});
    auto v = make_req(FUSE_WRITE, body.data(), body.size());
    auto r = fuse::decode(v.data(), v.size());
    REQUIRE(r.ok());
    auto* w = std::get_if<fuse::req::write>(&r->body);
    REQUIRE(w);
    CHECK(w->fh == 9);
    CHECK(w->offset == 4096);
    REQUIRE(w->data.size() == 5);
    CHECK(std::memcmp(w->data.data(), "abcde", 5) == 0);
    // A size larger than the bytes that came is malformed, never a read past the request.
    auto cut = make_req(FUSE_WRITE, body.data(), body.size() - 1);
    CHECK(fuse::decode(cut.data(), cut.size()).err().code == EINVAL);
  }
  {
    fuse_setattr_in in{};
    in.valid = FATTR_SIZE;
    in.size = 123;
    auto v = make_req(FUSE_SETATTR, &in, sizeof in);
    auto r = fuse::decode(v.data(), v.size());
    REQUIRE(r.ok());
    auto* s = std::get_if<fuse::req::setattr>(&r->body);
    REQUIRE(s);
    CHECK(s->valid == FATTR_SIZE);
    CHECK(s->size == 123);
  }
  {
    std::vector<uint8_t> body(sizeof(fuse_rename2_in));
    fuse_rename2_in in{};
    in.newdir = 42;
    in.flags = RENAME_NOREPLACE;
    std::memcpy(body.data(), &in, sizeof in);
    body.insert(body.end(), {'a', 0, 'b', 'c', 0});
    auto v = make_req(FUSE_RENAME2, body.data(), body.size());
    auto r = fuse::decode(v.data(), v.size());
    REQUIRE(r.ok());
    auto* rn = std::get_if<fuse::req::rename>(&r->body);
    REQUIRE(rn);
    CHECK(rn->newdir == 42);
    CHECK(rn->flags == RENAME_NOREPLACE);
    CHECK(rn->oldname == "a");
    CHECK(rn->newname == "bc");
    // The second name without its NUL.
    auto cut = make_req(FUSE_RENAME2, body.data(), body.size() - 1);
    CHECK(fuse::decode(cut.data(), cut.size()).err().code == EINVAL);
  }
  {
    auto v = make_req(FUSE_UNLINK, "gone\0", 5);
    auto r = fuse::decode(v.data(), v.size());
    REQUIRE(r.ok());
    REQUIRE(std::get_if<fuse::req::unlink>(&r->body));
    CHECK(std::get<fuse::req::unlink>(r->body).name == "gone");
    auto empty = make_req(FUSE_RMDIR, "\0", 1);
    CHECK(fuse::decode(empty.data(), empty.size()).err().code == EINVAL);
  }
}

TEST_CASE("CREATE's reply carries the entry, then the open handle") {
  std::vector<std::byte> out;
  entry_reply e;
  e.attr.ino = 17;
  e.attr.size = 0;
  e.attr.mode = S_IFREG | 0644;
  fuse::encode_create(out, 5, e, 99, 0);
  struct body_t {
    fuse_entry_out entry;
    fuse_open_out open;
  };
  auto b = reply_body<body_t>(out);
  CHECK(reply_header(out).len == sizeof(fuse_out_header) + sizeof(body_t));
  CHECK(b.entry.nodeid == 17);
  CHECK(b.entry.attr.mode == (S_IFREG | 0644));
  CHECK(b.open.fh == 99);
  std::vector<std::byte> w;
  fuse::encode_write(w, 6, 4096);
  CHECK(reply_body<fuse_write_out>(w).size == 4096);
}
