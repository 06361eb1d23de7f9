// The emulator's answers field by field against OSS's: the Owner of listed objects (always in
// ListObjects, with fetch-owner=true in ListObjectsV2), ListBuckets, bucket info/ACL/location,
// multipart (EncodingType, Location, ListParts, ListMultipartUploads), headers of PutObject,
// UploadPart and CopyObject, error bodies, and object sub-resources never answered with bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>

#include <pugixml.hpp>

#include "http/oss/crc64.hh"
#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"
#include "http/oss/xml.hh"
#include "tools/emu/handler.hh"
#include "tools/emu/options.hh"

using namespace ossuring;
using namespace ossuring::emu;

namespace {

constexpr int64_t fixed_now = 1702743657;  // 2023-12-16T16:20:57Z
// derive_owner_id("ak"): 10^15 + FNV-1a-64("ak") mod 9*10^15, worked out independently.
constexpr std::string_view owner_of_ak = "9437951985585285";

// OSS's ETag of simple uploads: the upper-case hex MD5.
std::string md5_upper(std::string_view data) {
  std::string hex = oss::hex_lower(oss::md5(data));
  for (char& ch : hex) {
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return hex;
}

struct fixture {
  std::shared_ptr<store> mem = make_memory_store();
  std::unique_ptr<handler> h;

  explicit fixture(std::string owner_id = {}) {
    handler_config cfg;
    cfg.buckets = {{"mem", mem}, {"other-bucket", make_memory_store()}};
    // Unsigned requests are accepted; the key only names the owner.
    cfg.auth = {.keys = {{"ak", "sk", ""}}, .anonymous = true};
    cfg.owner_id = std::move(owner_id);
    h = std::make_unique<handler>(std::move(cfg));
    h->set_wall_clock([] { return fixed_now; });
  }

  response send(std::string method, std::string target, std::string bucket = "mem",
                std::vector<std::pair<std::string, std::string>> headers = {},
                std::string body = {}) {
    http::request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.authority =
        bucket.empty() ? "oss-cn-hangzhou.aliyuncs.com" : bucket + ".oss-cn-hangzhou.aliyuncs.com";
    for (auto& [k, v] : headers) {
      req.headers.add(k, v);
    }
    req.body = std::move(body);
    return h->handle(req);
  }

  void put(const std::string& key, std::string data) {
    REQUIRE(send("PUT", "/" + oss::uri_encode_path(key), "mem", {}, std::move(data)).status == 200);
  }

  std::string initiate(const std::string& key) {
    response r = send("POST", "/" + oss::uri_encode_path(key) + "?uploads");
    REQUIRE(r.status == 200);
    auto id = oss::parse_initiate_multipart(r.body);
    REQUIRE(id);
    return *id;
  }
};

// The names of `node`'s element children, in order.
std::vector<std::string> children(pugi::xml_node node) {
  std::vector<std::string> out;
  for (pugi::xml_node c : node.children()) {
    out.emplace_back(c.name());
  }
  return out;
}

pugi::xml_node root_of(pugi::xml_document& doc, const response& r, const char* name) {
  REQUIRE(doc.load_string(r.body_text().c_str()));
  pugi::xml_node root = doc.child(name);
  REQUIRE(root);
  return root;
}

std::string text(pugi::xml_node n, const char* child) {
  return n.child_value(child);
}

}  // namespace

TEST_CASE("the owner id is 16 digits derived from the first access key, or the one configured") {
  CHECK(derive_owner_id("ak") == owner_of_ak);
  CHECK(derive_owner_id("") == "8981039346656037");
  CHECK(derive_owner_id("ak") != derive_owner_id("ak2"));
  handler_config cfg;
  cfg.auth.keys = {{"ak", "sk", ""}, {"other", "sk", ""}};
  CHECK(owner_id_of(cfg) == owner_of_ak);
  cfg.owner_id = "1686240967192623";
  CHECK(owner_id_of(cfg) == "1686240967192623");
  CHECK(fixture("42").h->owner_id() == "42");
  CHECK(fixture().h->owner_id() == owner_of_ak);
}

TEST_CASE("ListObjects (V1) Contents carry Owner ID and DisplayName after StorageClass") {
  fixture f;
  f.put("a/one", "1");
  f.put("a/two", "22");
  f.put("b", "333");
  for (std::string query : {"/", "/?encoding-type=url", "/?prefix=a%2F&max-keys=1"}) {
    CAPTURE(query);
    response r = f.send("GET", query);
    REQUIRE(r.status == 200);
    pugi::xml_document doc;
    pugi::xml_node root = root_of(doc, r, "ListBucketResult");
    size_t n = 0;
    for (pugi::xml_node c : root.children("Contents")) {
      ++n;
      CHECK(children(c) == std::vector<std::string>{"Key", "LastModified", "ETag", "Type", "Size",
                                                    "StorageClass", "Owner"});
      CHECK(children(c.child("Owner")) == std::vector<std::string>{"ID", "DisplayName"});
      CHECK(text(c.child("Owner"), "ID") == owner_of_ak);
      CHECK(text(c.child("Owner"), "DisplayName") == owner_of_ak);
    }
    CHECK(n > 0);
    // The client's parser still reads the page (it skips elements it does not know).
    auto page = oss::parse_list_objects_v1(r.body);
    REQUIRE(page);
    CHECK(page->objects.size() == n);
  }
}

TEST_CASE("ListObjectsV2 names owners only with fetch-owner=true") {
  fixture f("1686240967192623");
  f.put("k1", "x");
  f.put("k2", "y");
  auto owners = [&](const std::string& query) {
    response r = f.send("GET", "/?list-type=2" + query);
    REQUIRE(r.status == 200);
    pugi::xml_document doc;
    pugi::xml_node root = root_of(doc, r, "ListBucketResult");
    std::vector<std::string> ids;
    for (pugi::xml_node c : root.children("Contents")) {
      CHECK(children(c).back() == (c.child("Owner") ? "Owner" : "StorageClass"));
      if (pugi::xml_node o = c.child("Owner")) {
        CHECK(text(o, "DisplayName") == text(o, "ID"));
        ids.push_back(text(o, "ID"));
      } else {
        ids.emplace_back();
      }
    }
    REQUIRE(ids.size() == 2);
    return ids;
  };
  CHECK(owners("") == std::vector<std::string>{"", ""});
  CHECK(owners("&fetch-owner=false") == std::vector<std::string>{"", ""});
  CHECK(owners("&fetch-owner=true") ==
        std::vector<std::string>{"1686240967192623", "1686240967192623"});
  CHECK(owners("&fetch-owner=true&encoding-type=url&max-keys=5") ==
        std::vector<std::string>{"1686240967192623", "1686240967192623"});
}

TEST_CASE("ListBuckets answers the owner and each bucket as OSS does, with paging") {
  fixture f;
  response r = f.send("GET", "/", "");
  REQUIRE(r.status == 200);
  CHECK(f.h->stats().requests(api::list_buckets) == 1);
  pugi::xml_document doc;
  pugi::xml_node root = root_of(doc, r, "ListAllMyBucketsResult");
  CHECK(children(root) == std::vector<std::string>{"Owner", "Buckets"});
  CHECK(text(root.child("Owner"), "ID") == owner_of_ak);
  CHECK(text(root.child("Owner"), "DisplayName") == owner_of_ak);
  std::vector<std::string> names;
  for (pugi::xml_node b : root.child("Buckets").children("Bucket")) {
    CHECK(children(b) == std::vector<std::string>{"CreationDate", "ExtranetEndpoint",
                                                  "IntranetEndpoint", "Location", "Name", "Region",
                                                  "StorageClass"});
    CHECK(oss::parse_iso8601(text(b, "CreationDate")));
    CHECK(text(b, "ExtranetEndpoint") == "oss-cn-hangzhou.aliyuncs.com");
    CHECK(text(b, "IntranetEndpoint") == "oss-cn-hangzhou-internal.aliyuncs.com");
    CHECK(text(b, "Location") == "oss-cn-hangzhou");
    CHECK(text(b, "Region") == "cn-hangzhou");
    names.push_back(text(b, "Name"));
  }
  CHECK(names == std::vector<std::string>{"mem", "other-bucket"});

  r = f.send("GET", "/?max-keys=1", "");
  pugi::xml_document page;
  root = root_of(page, r, "ListAllMyBucketsResult");
  CHECK(children(root) == std::vector<std::string>{"Prefix", "Marker", "MaxKeys", "IsTruncated",
                                                   "NextMarker", "Owner", "Buckets"});
  CHECK(text(root, "IsTruncated") == "true");
  CHECK(text(root, "NextMarker") == "mem");
  r = f.send("GET", "/?max-keys=1&marker=mem", "");
  root = root_of(page, r, "ListAllMyBucketsResult");
  CHECK(text(root, "IsTruncated") == "false");
  CHECK(text(root.child("Buckets").child("Bucket"), "Name") == "other-bucket");
  r = f.send("GET", "/?prefix=oth", "");
  root = root_of(page, r, "ListAllMyBucketsResult");
  CHECK(text(root.child("Buckets").child("Bucket"), "Name") == "other-bucket");
  CHECK(f.send("GET", "/?max-keys=0", "").status == 400);
}

TEST_CASE("GetBucketInfo, GetBucketAcl, GetBucketLocation and GetBucketVersioning") {
  fixture f;
  response r = f.send("GET", "/?bucketInfo");
  REQUIRE(r.status == 200);
  CHECK(r.headers.get("Content-Type") == "application/xml");
  pugi::xml_document doc;
  pugi::xml_node b = root_of(doc, r, "BucketInfo").child("Bucket");
  CHECK(text(b, "Name") == "mem");
  CHECK(text(b, "Location") == "oss-cn-hangzhou");
  CHECK(text(b, "StorageClass") == "Standard");
  CHECK(oss::parse_iso8601(text(b, "CreationDate")));
  CHECK(children(b.child("Owner")) == std::vector<std::string>{"DisplayName", "ID"});
  CHECK(text(b.child("Owner"), "ID") == owner_of_ak);
  CHECK(text(b.child("AccessControlList"), "Grant") == "private");

  r = f.send("GET", "/?acl");
  pugi::xml_node acl = root_of(doc, r, "AccessControlPolicy");
  CHECK(text(acl.child("Owner"), "ID") == owner_of_ak);
  CHECK(text(acl.child("Owner"), "DisplayName") == owner_of_ak);
  CHECK(text(acl.child("AccessControlList"), "Grant") == "private");

  r = f.send("GET", "/?location");
  CHECK(std::string(root_of(doc, r, "LocationConstraint").text().get()) == "oss-cn-hangzhou");
  r = f.send("GET", "/?versioning");
  CHECK(children(root_of(doc, r, "VersioningConfiguration")).empty());
  CHECK(f.h->stats().requests(api::get_bucket_info) == 4);
}

TEST_CASE("object sub-resources are answered as such, never with the object's bytes") {
  fixture f;
  f.put("obj", "secret bytes");
  response r = f.send("GET", "/obj?acl");
  REQUIRE(r.status == 200);
  pugi::xml_document doc;
  pugi::xml_node acl = root_of(doc, r, "AccessControlPolicy");
  CHECK(text(acl.child("Owner"), "ID") == owner_of_ak);
  CHECK(text(acl.child("AccessControlList"), "Grant") == "default");
  CHECK(f.h->stats().requests(api::get_object_acl) == 1);
  CHECK(f.send("GET", "/missing?acl").status == 404);
  CHECK(f.send("GET", "/obj?tagging").status == 501);
  CHECK(f.send("GET", "/obj?uploadId=nope").status == 404);  // ListParts: NoSuchUpload
  // PutObjectAcl, PutObjectTagging, DeleteObjectTagging, PutSymlink: not implemented, and the
  // object is neither overwritten by the empty body nor deleted.
  CHECK(f.send("PUT", "/obj?acl", "mem", {{"x-oss-object-acl", "private"}}).status == 501);
  CHECK(f.send("PUT", "/obj?tagging", "mem", {}, "<Tagging/>").status == 501);
  CHECK(f.send("DELETE", "/obj?tagging").status == 501);
  CHECK(f.send("PUT", "/obj?symlink", "mem", {{"x-oss-symlink-target", "x"}}).status == 501);
  CHECK(f.send("GET", "/obj").body_text() == "secret bytes");
  // response-* parameters override the answer's headers, as in OSS's GetObject.
  r = f.send("GET",
             "/obj?response-content-type=text%2Fplain&response-content-disposition="
             "attachment&response-cache-control=no-cache");
  CHECK(r.headers.get("Content-Type") == "text/plain");
  CHECK(r.headers.get("Content-Disposition") == "attachment");
  CHECK(r.headers.get("Cache-Control") == "no-cache");
  CHECK(r.body_text() == "secret bytes");
}

TEST_CASE("PutObject, UploadPart and CopyObject answer OSS's headers and CopyObjectResult") {
  fixture f;
  const std::string data = "some object bytes";
  response put = f.send("PUT", "/src", "mem", {}, data);
  CHECK(put.headers.get("Content-MD5") == oss::base64_encode(oss::md5(data)));
  CHECK(put.headers.get("x-oss-hash-crc64ecma") == std::to_string(oss::crc64(data)));
  CHECK(put.headers.get("ETag") == "\"" + md5_upper(data) + "\"");

  response copy = f.send("PUT", "/dst", "mem", {{"x-oss-copy-source", "/mem/src"}});
  REQUIRE(copy.status == 200);
  CHECK(copy.headers.get("x-oss-hash-crc64ecma") == std::to_string(oss::crc64(data)));
  pugi::xml_document doc;
  pugi::xml_node root = root_of(doc, copy, "CopyObjectResult");
  CHECK(children(root) == std::vector<std::string>{"LastModified", "ETag"});
  CHECK(text(root, "LastModified") == oss::format_iso8601(fixed_now));
  CHECK(text(root, "ETag") == put.headers.get("ETag"));

  std::string id = f.initiate("mp");
  const std::string part(1000, 'p');
  response up = f.send("PUT", "/mp?partNumber=1&uploadId=" + id, "mem", {}, part);
  REQUIRE(up.status == 200);
  CHECK(up.headers.get("Content-MD5") == oss::base64_encode(oss::md5(part)));
  CHECK(up.headers.get("x-oss-hash-crc64ecma") == std::to_string(oss::crc64(part)));
}

TEST_CASE("Initiate and Complete honour encoding-type=url; Complete names the new object's URL") {
  fixture f;
  const std::string key = "dir/a b+c.bin";
  response init = f.send("POST", "/" + oss::uri_encode_path(key) + "?uploads&encoding-type=url");
  REQUIRE(init.status == 200);
  pugi::xml_document doc;
  pugi::xml_node root = root_of(doc, init, "InitiateMultipartUploadResult");
  CHECK(children(root) == std::vector<std::string>{"Bucket", "Key", "UploadId", "EncodingType"});
  CHECK(text(root, "Key") == oss::uri_encode(key));
  const std::string id = text(root, "UploadId");
  response up = f.send("PUT", "/" + oss::uri_encode_path(key) + "?partNumber=1&uploadId=" + id,
                       "mem", {}, "tail");
  REQUIRE(up.status == 200);
  std::string etag(oss::strip_etag_quotes(up.headers.get("ETag")));
  response done =
      f.send("POST", "/" + oss::uri_encode_path(key) + "?uploadId=" + id + "&encoding-type=url",
             "mem", {}, oss::build_complete_multipart({{1, etag}}));
  REQUIRE(done.status == 200);
  root = root_of(doc, done, "CompleteMultipartUploadResult");
  CHECK(children(root) ==
        std::vector<std::string>{"EncodingType", "Location", "Bucket", "Key", "ETag"});
  CHECK(text(root, "Key") == oss::uri_encode(key));
  CHECK(text(root, "Location") ==
        "http://mem.oss-cn-hangzhou.aliyuncs.com/" + oss::uri_encode(key));
  CHECK(text(root, "ETag") == done.headers.get("ETag"));
  CHECK(*oss::parse_complete_multipart_result(done.body) ==
        oss::strip_etag_quotes(done.headers.get("ETag")));

  // Without encoding-type the key comes back as it is.
  init = f.send("POST", "/plain?uploads");
  root = root_of(doc, init, "InitiateMultipartUploadResult");
  CHECK(children(root) == std::vector<std::string>{"Bucket", "Key", "UploadId"});
}

TEST_CASE("ListParts lists parts in order with sizes, ETags and CRCs, page by page") {
  fixture f;
  std::string id = f.initiate("big file");
  const std::vector<std::string> parts = {std::string(10, 'a'), std::string(20, 'b'),
                                          std::string(30, 'c')};
  for (unsigned n : {3u, 1u, 2u}) {
    REQUIRE(f.send("PUT", "/big%20file?partNumber=" + std::to_string(n) + "&uploadId=" + id, "mem",
                   {}, parts[n - 1])
                .status == 200);
  }
  response r = f.send("GET", "/big%20file?uploadId=" + id + "&max-parts=2");
  REQUIRE(r.status == 200);
  CHECK(f.h->stats().requests(api::list_parts) == 1);
  pugi::xml_document doc;
  pugi::xml_node root = root_of(doc, r, "ListPartsResult");
  CHECK(text(root, "Bucket") == "mem");
  CHECK(text(root, "Key") == "big file");
  CHECK(text(root, "UploadId") == id);
  CHECK(text(root, "PartNumberMarker") == "0");
  CHECK(text(root, "NextPartNumberMarker") == "2");
  CHECK(text(root, "MaxParts") == "2");
  CHECK(text(root, "IsTruncated") == "true");
  unsigned n = 0;
  for (pugi::xml_node p : root.children("Part")) {
    ++n;
    CHECK(children(p) ==
          std::vector<std::string>{"PartNumber", "LastModified", "ETag", "HashCrc64ecma", "Size"});
    CHECK(text(p, "PartNumber") == std::to_string(n));
    CHECK(text(p, "LastModified") == oss::format_iso8601(fixed_now));
    CHECK(text(p, "ETag") == "\"" + md5_upper(parts[n - 1]) + "\"");
    CHECK(text(p, "HashCrc64ecma") == std::to_string(oss::crc64(parts[n - 1])));
    CHECK(text(p, "Size") == std::to_string(parts[n - 1].size()));
  }
  CHECK(n == 2);
  r = f.send("GET", "/big%20file?uploadId=" + id + "&part-number-marker=2&encoding-type=url");
  root = root_of(doc, r, "ListPartsResult");
  CHECK(text(root, "EncodingType") == "url");
  CHECK(text(root, "Key") == "big%20file");
  CHECK(text(root, "IsTruncated") == "false");
  CHECK(text(root.child("Part"), "PartNumber") == "3");
  CHECK(f.send("GET", "/other?uploadId=" + id).status == 404);  // another key's upload
  CHECK(f.send("GET", "/big%20file?uploadId=" + id + "&max-parts=0").status == 400);
}

TEST_CASE("ListMultipartUploads lists uploads by key and id, with prefix, delimiter and paging") {
  fixture f;
  std::vector<std::string> ids = {f.initiate("b/1"), f.initiate("a"), f.initiate("b/2"),
                                  f.initiate("a"), f.initiate("c")};
  response r = f.send("GET", "/?uploads");
  REQUIRE(r.status == 200);
  CHECK(f.h->stats().requests(api::list_multipart_uploads) == 1);
  pugi::xml_document doc;
  pugi::xml_node root = root_of(doc, r, "ListMultipartUploadsResult");
  CHECK(children(root).front() == "Bucket");
  CHECK(text(root, "MaxUploads") == "1000");
  CHECK(text(root, "IsTruncated") == "false");
  std::vector<std::string> keys;
  for (pugi::xml_node u : root.children("Upload")) {
    CHECK(children(u) == std::vector<std::string>{"Key", "UploadId", "Initiated"});
    CHECK(text(u, "Initiated") == oss::format_iso8601(fixed_now));
    keys.push_back(text(u, "Key"));
  }
  CHECK(keys == std::vector<std::string>{"a", "a", "b/1", "b/2", "c"});
  std::string first_a = std::min(ids[1], ids[3]);
  CHECK(text(root.child("Upload"), "UploadId") == first_a);

  // Delimiter: b/1 and b/2 roll up into one common prefix; paging resumes after it.
  r = f.send("GET", "/?uploads&delimiter=%2F&max-uploads=3");
  root = root_of(doc, r, "ListMultipartUploadsResult");
  CHECK(text(root, "IsTruncated") == "true");
  CHECK(text(root.child("CommonPrefixes"), "Prefix") == "b/");
  CHECK(text(root, "NextKeyMarker") == "b/");
  r = f.send("GET", "/?uploads&delimiter=%2F&key-marker=b%2F");
  root = root_of(doc, r, "ListMultipartUploadsResult");
  CHECK(text(root.child("Upload"), "Key") == "c");
  CHECK_FALSE(root.child("CommonPrefixes"));

  // key-marker with upload-id-marker: the rest of that key's uploads, then later keys.
  r = f.send("GET", "/?uploads&key-marker=a&upload-id-marker=" + first_a + "&max-uploads=1");
  root = root_of(doc, r, "ListMultipartUploadsResult");
  CHECK(text(root.child("Upload"), "UploadId") == std::max(ids[1], ids[3]));
  CHECK(text(root, "NextKeyMarker") == "a");
  CHECK(text(root, "NextUploadIdMarker") == std::max(ids[1], ids[3]));
  r = f.send("GET", "/?uploads&prefix=b%2F&encoding-type=url");
  root = root_of(doc, r, "ListMultipartUploadsResult");
  CHECK(text(root, "Prefix") == "b%2F");
  CHECK(text(root.child("Upload"), "Key") == "b%2F1");
}

TEST_CASE("error bodies follow OSS: EC and RecommendDoc last, HostId names the endpoint") {
  fixture f;
  response r = f.send("GET", "/missing");
  REQUIRE(r.status == 404);
  pugi::xml_document doc;
  pugi::xml_node root = root_of(doc, r, "Error");
  CHECK(children(root) == std::vector<std::string>{"Code", "Message", "RequestId", "HostId", "Key",
                                                   "EC", "RecommendDoc"});
  CHECK(text(root, "HostId") == "mem.oss-cn-hangzhou.aliyuncs.com");
  CHECK(text(root, "EC") == "0026-00000001");
  CHECK(text(root, "RecommendDoc") == "https://api.aliyun.com/troubleshoot?q=0026-00000001");
  CHECK(r.headers.get("x-oss-ec") == "0026-00000001");
  CHECK(text(root, "RequestId") == r.headers.get("x-oss-request-id"));
  // A HEAD carries the same XML in x-oss-err.
  auto head = oss::parse_error_header(f.send("HEAD", "/missing").headers.get("x-oss-err"));
  REQUIRE(head);
  CHECK(head->ec == "0026-00000001");

  r = f.send("POST", "/?delete", "mem", {}, "<NotDelete/>");
  CHECK(text(root_of(doc, r, "Error"), "EC") == "0016-00000608");
  r = f.send("POST", "/?delete", "mem", {{"Content-MD5", oss::base64_encode(oss::md5("x"))}},
             "<Delete><Object><Key>k</Key></Object></Delete>");
  CHECK(r.status == 400);
  CHECK(text(root_of(doc, r, "Error"), "Code") == "InvalidDigest");
}

TEST_CASE("--owner-id takes decimal digits and reaches the handler configuration") {
  auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "ossemu");
    return parse_options(static_cast<int>(args.size()), args.data());
  };
  auto o = parse({"--bucket", "data=memory", "--access-key-id", "ak", "--access-key-secret", "sk"});
  REQUIRE(o);
  auto cfg = make_handler_config(*o);
  REQUIRE(cfg);
  CHECK(cfg->owner_id == owner_of_ak);
  o = parse({"--bucket", "data=memory", "--anonymous", "--owner-id", "1686240967192623"});
  REQUIRE(o);
  cfg = make_handler_config(*o);
  REQUIRE(cfg);
  CHECK(cfg->owner_id == "1686240967192623");
  CHECK_FALSE(parse({"--bucket", "data=memory", "--anonymous", "--owner-id", "12ab"}));
  CHECK_FALSE(parse({"--bucket", "data=memory", "--anonymous", "--owner-id="}));
}
