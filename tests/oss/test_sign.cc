// Unit tests of OSS V1/V4 signing against the official SDK vectors, and Authorization parsing.
#include <doctest/doctest.h>

#include "http/oss/digest.hh"
#include "http/oss/sign.hh"

using namespace ossuring;
using namespace ossuring::oss;

namespace {

const std::string v1_put_sts =
    "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 "
    "Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/"
    "nelson";
const std::string v1_get_prefix =
    "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n";

http::request v4_vector_request() {
  http::request req;
  req.method = "PUT";
  req.headers.add("x-oss-head1", "value");
  req.headers.add("abc", "value");
  req.headers.add("ZAbc", "value");
  req.headers.add("XYZ", "value");
  req.headers.add("content-type", "text/plain");
  req.headers.add("x-oss-content-sha256", "UNSIGNED-PAYLOAD");
  return req;
}

signing_input v4_vector_input() {
  signing_input in;
  in.method = "PUT";
  in.bucket = "bucket";
  in.key = "1234+-/123/1.txt";
  in.query = {{"param1", "value1"}, {"+param1", "value3"}, {"|param1", "value4"},
              {"+param2", ""},      {"|param2", ""},       {"param2", ""}};
  return in;
}

}  // namespace

TEST_CASE("v1 signatures match the official SDK vectors") {
  CHECK(v1_signature("sk", v1_put_sts) == "kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
  CHECK(v1_signature("sk", v1_put_sts + "?acl") == "/afkugFbmWDQ967j1vr6zygBLQk=");
  CHECK(v1_signature("sk", v1_get_prefix + "/examplebucket/?resourceGroup") ==
        "vkQmfuUDyi1uDi3bKt67oemssIs=");
  CHECK(v1_signature("sk", v1_get_prefix + "/examplebucket/?acl&resourceGroup") ==
        "x3E5TgOvl/i7PN618s5mEvpJDYk=");
}

TEST_CASE("v1 string to sign is built from headers, key and signed sub-resources") {
  http::header_list h;
  h.add("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw==");
  h.add("Content-Type", "text/html");
  h.add("Date", "Wed, 28 Dec 2022 10:27:41 GMT");
  h.add("X-OSS-Meta-Magic", " abracadabra ");
  h.add("x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT");
  h.add("x-oss-meta-author", "alice");
  h.add("Host", "examplebucket.oss-cn-hangzhou.aliyuncs.com");
  signing_input in{"PUT", "examplebucket", "nelson", {}, &h};
  CHECK(v1_string_to_sign(in) == v1_put_sts);

  in.query = {{"acl", ""}, {"prefix", "not-signed"}};
  CHECK(v1_string_to_sign(in) == v1_put_sts + "?acl");

  http::header_list g;
  g.add("Date", "Wed, 28 Dec 2022 10:27:41 GMT");
  g.add("x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT");
  signing_input bucket_in{"GET", "examplebucket", "", {{"resourceGroup", ""}, {"acl", ""}}, &g};
  CHECK(v1_string_to_sign(bucket_in) == v1_get_prefix + "/examplebucket/?acl&resourceGroup");
}

TEST_CASE("v1 canonical resource keeps the raw key and sub-resource values") {
  http::header_list h;
  h.add("Date", "Thu, 01 Jan 1970 00:00:00 GMT");
  signing_input in{
      "GET",
      "b",
      "dir/a b+c%.txt",
      {{"uploadId", "X Y"}, {"partNumber", "3"}, {"list-type", "2"}, {"x-oss-process", "img"}},
      &h};
  CHECK(v1_string_to_sign(in) ==
        "GET\n\n\nThu, 01 Jan 1970 00:00:00 GMT\n/b/dir/a b+c%.txt?partNumber=3&uploadId=X "
        "Y&x-oss-process=img");
  signing_input service{"GET", "", "", {}, &h};
  CHECK(v1_string_to_sign(service) == "GET\n\n\nThu, 01 Jan 1970 00:00:00 GMT\n/");
}

TEST_CASE("sign_request_v1 adds Date, the STS token and Authorization") {
  http::request req;
  req.method = "GET";
  req.headers.add("x-oss-meta-a", "1");
  credentials c{"ak", "sk", "tok"};
  sign_request_v1(req, signing_input{"GET", "bkt", "k", {}, nullptr}, c, 1672223261);
  CHECK(req.headers.get("Date") == "Wed, 28 Dec 2022 10:27:41 GMT");
  CHECK(req.headers.get("x-oss-security-token") == "tok");
  std::string sts =
      "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-a:1\nx-oss-security-token:tok\n/bkt/k";
  CHECK(req.headers.get("Authorization") == "OSS ak:" + v1_signature("sk", sts));
}

TEST_CASE("v4 canonical request matches the official vector") {
  http::request req = v4_vector_request();
  req.headers.add("x-oss-date", "20231216T162057Z");
  signing_input in = v4_vector_input();
  in.headers = &req.headers;
  CHECK(v4_canonical_request(in, {}) ==
        "PUT\n"
        "/bucket/1234%2B-/123/1.txt\n"
        "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n"
        "content-type:text/plain\n"
        "x-oss-content-sha256:UNSIGNED-PAYLOAD\n"
        "x-oss-date:20231216T162057Z\n"
        "x-oss-head1:value\n"
        "\n"
        "\n"
        "UNSIGNED-PAYLOAD");
}

TEST_CASE("sign_request_v4 reproduces the official signature") {
  http::request req = v4_vector_request();
  sign_request_v4(req, v4_vector_input(), credentials{"ak", "sk", ""}, "cn-hangzhou", 1702743657);
  CHECK(req.headers.get("x-oss-date") == "20231216T162057Z");
  CHECK(req.headers.get("Authorization") ==
        "OSS4-HMAC-SHA256 "
        "Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature="
        "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe");
}

TEST_CASE("sign_request_v4 with an STS token reproduces the official signature") {
  http::request req = v4_vector_request();
  sign_request_v4(req, v4_vector_input(), credentials{"ak", "sk", "token"}, "cn-hangzhou",
                  1702784856);
  CHECK(req.headers.get("x-oss-security-token") == "token");
  CHECK(req.headers.get("Authorization") ==
        "OSS4-HMAC-SHA256 "
        "Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,Signature="
        "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea");
}

TEST_CASE("sign_request_v4 with additional headers reproduces the official signature") {
  http::request req = v4_vector_request();
  sign_request_v4(req, v4_vector_input(), credentials{"ak", "sk", ""}, "cn-hangzhou", 1702747512,
                  {"ZAbc", "abc"});
  CHECK(req.headers.get("Authorization") ==
        "OSS4-HMAC-SHA256 "
        "Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,"
        "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f");
}

TEST_CASE("v4 pieces compose into the signature a server recomputes") {
  http::request req = v4_vector_request();
  signing_input in = v4_vector_input();
  sign_request_v4(req, in, credentials{"ak", "sk", ""}, "cn-hangzhou", 1702747512,
                  {"abc", "zabc", "missing-header"});
  auto auth = parse_authorization(req.headers.get("Authorization"));
  REQUIRE(auth);
  CHECK(auth->additional_headers == std::vector<std::string>{"abc", "zabc"});
  in.headers = &req.headers;
  std::string canonical = v4_canonical_request(in, auth->additional_headers);
  std::string sts = v4_string_to_sign(canonical, req.headers.get("x-oss-date"), auth->region);
  CHECK(v4_signature("sk", auth->date8, auth->region, sts) == auth->signature);
  CHECK(v4_signature("wrong", auth->date8, auth->region, sts) != auth->signature);
}

TEST_CASE("a prepared HMAC key gives the one-shot HMAC for message after message") {
  hmac_key<32> k256("key");
  hmac_key<20> k1("key");
  hmac_key<32> empty_key("");
  for (std::string msg : {"", "The quick brown fox jumps over the lazy dog", "", "abc"}) {
    CHECK(k256(msg) == hmac_sha256("key", msg));
    CHECK(k1(msg) == hmac_sha1("key", msg));
    CHECK(empty_key(msg) == hmac_sha256("", msg));
  }
  // RFC 2104 / Wikipedia vector.
  CHECK(hex_lower(k256("The quick brown fox jumps over the lazy dog")) ==
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST_CASE("v4 signatures follow the secret, day and region when signing keys are reused") {
  auto derived = [](std::string secret, std::string date8, std::string region,
                    std::string_view sts) {
    auto view = [](const sha256_digest& d) {
      return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
    };
    sha256_digest k = hmac_sha256("aliyun_v4" + secret, date8);
    k = hmac_sha256(view(k), region);
    k = hmac_sha256(view(k), "oss");
    k = hmac_sha256(view(k), "aliyun_v4_request");
    return hex_lower(hmac_sha256(view(k), sts));
  };
  // More distinct keys than any cache would hold, visited twice in different orders.
  std::vector<std::array<std::string, 3>> keys;
  for (std::string secret : {"sk", "sk2", "a-much-longer-secret-than-sso-holds"}) {
    for (std::string date : {"20231216", "20231217"}) {
      for (std::string region : {"cn-hangzhou", "us-east-1"}) {
        keys.push_back({secret, date, region});
      }
    }
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto& [secret, date, region] = keys[round == 0 ? i : keys.size() - 1 - i];
      std::string sts = "string to sign " + std::to_string(i);
      CHECK(v4_signature(secret, date, region, sts) == derived(secret, date, region, sts));
      CHECK(v4_signature(secret, date, region, sts) == derived(secret, date, region, sts));
    }
  }
  for (std::string secret : {"s1", "s2", "s3", "s4", "s5", "s1", "s5"}) {
    CHECK(v1_signature(secret, "sts") == base64_encode(hmac_sha1(secret, "sts")));
  }
}

TEST_CASE("v4 additional header names are lower-cased, deduplicated and sorted") {
  CHECK(v4_normalize_additional_headers(
            {"ZAbc", "abc", "Abc", "x-oss-meta", "Content-Type", "host"}) ==
        std::vector<std::string>{"abc", "host", "zabc"});
}

TEST_CASE("parse_authorization reads V1 headers") {
  auto a = parse_authorization("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
  REQUIRE(a);
  CHECK(a->version == 1);
  CHECK(a->access_key_id == "ak");
  CHECK(a->signature == "kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
  CHECK_FALSE(parse_authorization("OSS ak"));
  CHECK_FALSE(parse_authorization("OSS :sig"));
  CHECK_FALSE(parse_authorization("OSS ak:"));
  CHECK_FALSE(parse_authorization("Bearer x"));
  CHECK_FALSE(parse_authorization(""));
}

TEST_CASE("parse_authorization reads V4 headers") {
  std::string sig(64, 'a');
  auto a = parse_authorization(
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request, "
      "AdditionalHeaders=abc;zabc, Signature=" +
      sig);
  REQUIRE(a);
  CHECK(a->version == 4);
  CHECK(a->access_key_id == "ak");
  CHECK(a->date8 == "20231216");
  CHECK(a->region == "cn-hangzhou");
  CHECK(a->additional_headers == std::vector<std::string>{"abc", "zabc"});
  CHECK(a->signature == sig);
}

TEST_CASE("parse_authorization refuses malformed V4 headers") {
  std::string sig(64, 'a');
  std::string good_cred = "Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request";
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256 " + good_cred));
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256 Signature=" + sig));
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256 " + good_cred + ",Signature=" + sig + "0"));
  CHECK_FALSE(
      parse_authorization("OSS4-HMAC-SHA256 " + good_cred + ",Signature=" + std::string(64, 'A')));
  CHECK_FALSE(parse_authorization(
      "OSS4-HMAC-SHA256 Credential=ak/2023121/cn-hangzhou/oss/aliyun_v4_request,Signature=" + sig));
  CHECK_FALSE(parse_authorization(
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/s3/aliyun_v4_request,Signature=" + sig));
  CHECK_FALSE(parse_authorization(
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request/x,Signature=" +
      sig));
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256 " + good_cred + ",Bogus=1,Signature=" + sig));
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256 " + good_cred +
                                  ",AdditionalHeaders=a;;b,Signature=" + sig));
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256"));
  CHECK_FALSE(parse_authorization("OSS4-HMAC-SHA256X " + good_cred + ",Signature=" + sig));
}
