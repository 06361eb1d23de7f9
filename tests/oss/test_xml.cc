// Unit tests of OSS XML parsing (listings, errors, multipart, copy), emulator rendering and the
// OSS-error-to-errno table.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "fs/errors.hh"
#include "http/oss/detail/pugi_pages.hh"
#include "http/oss/digest.hh"
#include "http/oss/time.hh"
#include "http/oss/xml.hh"
#include "http/oss/xml_render.hh"

using namespace ossuring;
using namespace ossuring::oss;

namespace {

const char* v2_page = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
  <Name>examplebucket</Name>
  <Prefix>a%2Fb%20c%2F</Prefix>
  <MaxKeys>1000</MaxKeys>
  <Delimiter>%2F</Delimiter>
  <EncodingType>url</EncodingType>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>CgJiYw%3D%3D</NextContinuationToken>
  <KeyCount>3</KeyCount>
  <Contents>
    <Key>a%2Fb%20c%2Ffile%2B1.txt</Key>
    <LastModified>2012-02-24T08:42:32.123Z</LastModified>
    <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE"</ETag>
    <Type>Normal</Type>
    <Size>344606</Size>
    <StorageClass>Standard</StorageClass>
    <Owner><ID>0022012</ID><DisplayName>user</DisplayName></Owner>
  </Contents>
  <Contents>
    <Key>a%2Fb%20c%2F%E4%B8%AD%0D</Key>
    <LastModified>2012-02-24T08:43:07.000Z</LastModified>
    <ETag>&quot;4AF9-2&quot;</ETag>
    <Type>Multipart</Type>
    <Size>0</Size>
    <StorageClass>IA</StorageClass>
  </Contents>
  <CommonPrefixes><Prefix>a%2Fb%20c%2Fsub%2F</Prefix></CommonPrefixes>
</ListBucketResult>)";

}  // namespace

TEST_CASE("ListObjectsV2 pages are parsed and URL-decoded") {
  auto page = parse_list_objects_v2(v2_page);
  REQUIRE(page);
  CHECK(page->truncated);
  CHECK(page->next_continuation_token == "CgJiYw==");
  REQUIRE(page->objects.size() == 2);
  const listed_object& a = page->objects[0];
  CHECK(a.key == "a/b c/file+1.txt");
  CHECK(a.size == 344606);
  CHECK(a.mtime_sec == 1330072952);
  CHECK(a.mtime_nsec == 123000000);
  CHECK(a.etag == "5B3C1A2E053D763E1B002CC607C5A0FE");
  CHECK(a.object_type == "Normal");
  CHECK(a.storage_class == "Standard");
  CHECK(page->objects[1].key == "a/b c/\xe4\xb8\xad\r");
  CHECK(page->objects[1].etag == "4AF9-2");
  CHECK(page->objects[1].object_type == "Multipart");
  CHECK(page->common_prefixes == std::vector<std::string>{"a/b c/sub/"});
}

TEST_CASE("a listed object's strings view the page's own text, which copies of the page share") {
  std::optional<list_page> copy;
  {
    std::string body = v2_page;
    auto page = parse_list_objects_v2(std::move(body));
    REQUIRE(page);
    REQUIRE(page->text);
    copy = *page;  // the parsed page and its text go out of scope; the copy keeps the text
  }
  std::string_view text = *copy->text;
  for (const listed_object& o : copy->objects) {
    for (std::string_view v : {o.key, o.etag, o.storage_class, o.object_type}) {
      CHECK(v.data() >= text.data());
      CHECK(v.data() + v.size() <= text.data() + text.size());
    }
  }
  CHECK(copy->objects[0].key == "a/b c/file+1.txt");  // decoded in the text itself
  CHECK(copy->objects[1].etag == "4AF9-2");
  std::string bad = "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>";
  CHECK_FALSE(parse_list_objects_v1(bad));
}

TEST_CASE("a page made from memory views one text holding each listed field") {
  std::vector<object_info> in(3);
  in[0] = object_info{.key = "short", .size = 1, .etag = "e0"};
  in[1] = object_info{.key = std::string(1023, 'k'),
                      .size = 2,
                      .mtime_sec = 5,
                      .mtime_nsec = 6,
                      .etag = "e1",
                      .storage_class = "IA",
                      .object_type = "Multipart"};
  in[2] = object_info{.key = "x", .size = 3};
  list_page page = make_list_page(in);
  REQUIRE(page.objects.size() == 3);
  REQUIRE(page.text);
  std::string_view text = *page.text;
  for (size_t i = 0; i < 3; ++i) {
    const listed_object& o = page.objects[i];
    CHECK(o.key == in[i].key);
    CHECK(o.size == in[i].size);
    CHECK(o.mtime_sec == in[i].mtime_sec);
    CHECK(o.mtime_nsec == in[i].mtime_nsec);
    CHECK(o.etag == in[i].etag);
    CHECK(o.storage_class == in[i].storage_class);
    CHECK(o.object_type == in[i].object_type);
    CHECK(o.key.data() >= text.data());
    CHECK(o.key.data() + o.key.size() <= text.data() + text.size());
  }
  CHECK(make_list_page({}).objects.empty());
}

TEST_CASE("a NUL byte fails a listing instead of ending it early") {
  // Found by the fuzzer: in place, pugixml took the NUL for the end of input and, the buffer's
  // last byte being '>', accepted the page without the second key.
  using namespace std::string_literals;
  std::string xml =
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1</Size>"
      "</Contents></ListBucketResult\0<Contents><Key>b</Key><Size>2</Size></Contents>>"s;
  auto v2 = parse_list_objects_v2(xml);
  REQUIRE_FALSE(v2);
  CHECK(v2.err().message.find("NUL") != std::string::npos);
  CHECK_FALSE(parse_list_objects_v1(xml));
}

TEST_CASE("a Contents field given twice counts once, the first, in any order of fields") {
  auto page = parse_list_objects_v2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>7</Size><!-- c -->"
      "<Owner><ID>1</ID></Owner><Key>b</Key><Key>ignored</Key><Size>9</Size>"
      "<ETag><![CDATA[\"e\"]]></ETag></Contents></ListBucketResult>");
  REQUIRE(page);
  REQUIRE(page->objects.size() == 1);
  CHECK(page->objects[0].key == "b");
  CHECK(page->objects[0].size == 7);
  CHECK(page->objects[0].etag == "e");
}

TEST_CASE("ListObjectsV2 keys are taken verbatim without EncodingType") {
  auto page = parse_list_objects_v2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a%20b</Key><Size>1</Size>"
      "</Contents></ListBucketResult>");
  REQUIRE(page);
  CHECK_FALSE(page->truncated);
  CHECK(page->objects.at(0).key == "a%20b");
  CHECK(page->objects.at(0).mtime_sec == 0);
}

TEST_CASE("ListObjects V1 pages report the next marker") {
  auto page = parse_list_objects_v1(
      "<ListBucketResult><Marker></Marker><EncodingType>url</EncodingType>"
      "<IsTruncated>true</IsTruncated><NextMarker>k%2B2</NextMarker>"
      "<Contents><Key>k%2B1</Key><Size>5</Size></Contents></ListBucketResult>");
  REQUIRE(page);
  CHECK(page->next_continuation_token == "k+2");
  auto no_marker = parse_list_objects_v1(
      "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key><Size>5</Size>"
      "</Contents><CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes></ListBucketResult>");
  REQUIRE(no_marker);
  CHECK(no_marker->next_continuation_token == "b/");
}

TEST_CASE("listing parse errors are reported, not thrown") {
  const char* bad[] = {
      "",
      "<ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated>",
      "<Other/>",
      "not xml at all",
      "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999999</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%zz</Key><Size>1</Size>"
      "</Contents></ListBucketResult>",
      "<ListBucketResult><EncodingType>url</EncodingType><CommonPrefixes><Prefix>%</Prefix>"
      "</CommonPrefixes></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size><LastModified>yesterday"
      "</LastModified></Contents></ListBucketResult>",
  };
  for (const char* xml : bad) {
    CAPTURE(xml);
    auto v2 = parse_list_objects_v2(xml);
    CHECK_FALSE(v2);
    if (!v2) {
      CHECK(v2.err().code == EIO);
      CHECK_FALSE(v2.err().message.empty());
    }
  }
}

namespace {

// A V2 page of one key per LastModified value, in order.
std::string page_with_dates(std::initializer_list<std::string_view> dates) {
  std::string xml = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  int i = 0;
  for (std::string_view d : dates) {
    xml += "<Contents><Key>k" + std::to_string(i++) + "</Key><Size>1</Size><LastModified>";
    xml += d;
    xml += "</LastModified></Contents>";
  }
  return xml + "</ListBucketResult>";
}

}  // namespace

TEST_CASE("LastModified parses as parse_iso8601 does, whether or not a key before had its day") {
  const char* forms[] = {
      "2023-11-14T22:13:20.000Z",      "2023-11-14T23:59:59.999Z",
      "2023-11-14T00:00:00.001Z",      "2023-11-14T22:13:20Z",
      "2023-11-14T22:13:20.5Z",        "2023-11-14T22:13:20.123456789Z",
      "2023-11-14T22:13:20.000+08:00", "2023-11-14T22:13:20.000-01:30",
      "2023-11-15T00:00:00.000Z",      "2024-02-29T12:00:00.000Z",
      "1970-01-01T00:00:00.000Z",
  };
  for (const char* form : forms) {
    CAPTURE(form);
    auto want = parse_iso8601(form);
    REQUIRE(want);
    std::string day(form, 10);
    // Alone, after a key of the same day, and after one of another day.
    auto page = parse_list_objects_v2(
        page_with_dates({form, day + "T01:02:03.004Z", form, "2001-01-01T00:00:00.000Z", form}));
    REQUIRE(page);
    REQUIRE(page->objects.size() == 5);
    for (size_t i : {0, 2, 4}) {
      CHECK(page->objects[i].mtime_sec == want->sec);
      CHECK(page->objects[i].mtime_nsec == want->nsec);
    }
    auto primer = parse_iso8601(day + "T01:02:03.004Z");
    REQUIRE(primer);
    CHECK(page->objects[1].mtime_sec == primer->sec);
    CHECK(page->objects[1].mtime_nsec == 4000000);
    CHECK(page->objects[3].mtime_sec == 978307200);
  }
}

TEST_CASE("a bad LastModified fails the page even after a good one of the same day") {
  const char* bad[] = {
      "2023-11-14T24:00:00.000Z",  "2023-11-14T22:60:00.000Z", "2023-11-14T22:13:60.000Z",
      "2023-11-14T22:13:20.000Zx", "2023-11-14T22:13:20.000z", "2023-11-14T2:13:20.000Z",
      "2023-11-14 22:13:20.000Z",  "2023-11-14T22:13:20.Z",    "2023-11-14T22:13:20.0000000000Z",
      "2023-11-14T22:13:20.00aZ",  "2023-11-14T22:13",         "2023-11-14",
      "2023-02-29T00:00:00.000Z",  "1969-12-31T23:59:59.000Z", "2023-13-14T22:13:20.000Z",
  };
  for (const char* form : bad) {
    CAPTURE(form);
    auto page = parse_list_objects_v2(page_with_dates({"2023-11-14T22:13:20.000Z", form}));
    REQUIRE_FALSE(page);
    CHECK(page.err().code == EIO);
    CHECK(page.err().message.find("invalid LastModified of k1") != std::string::npos);
  }
}

TEST_CASE("Size takes exactly the decimal digits of a 64-bit unsigned number") {
  auto with_size = [](std::string_view size) {
    return parse_list_objects_v2(
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents>"
        "<Key>k</Key><Size>" +
        std::string(size) + "</Size></Contents></ListBucketResult>");
  };
  auto max = with_size("18446744073709551615");
  REQUIRE(max);
  CHECK(max->objects.at(0).size == UINT64_MAX);
  auto zeros = with_size("000123");
  REQUIRE(zeros);
  CHECK(zeros->objects.at(0).size == 123);
  for (const char* bad :
       {"18446744073709551616", "99999999999999999999", "+1", " 1", "1 ", "0x10", "1.0", ""}) {
    CAPTURE(bad);
    auto page = with_size(bad);
    REQUIRE_FALSE(page);
    CHECK(page.err().message.find("invalid Size") != std::string::npos);
  }
}

TEST_CASE("page fields after the entries count, and text in CDATA reads as text") {
  auto page = parse_list_objects_v2(
      "<ListBucketResult><Contents><Key><![CDATA[a%2Bb&c]]></Key><Size>1</Size></Contents>"
      "<CommonPrefixes><Prefix>p%2F</Prefix></CommonPrefixes><EncodingType>url</EncodingType>"
      "<NextContinuationToken>t%3D</NextContinuationToken><IsTruncated>true</IsTruncated>"
      "<EncodingType>none</EncodingType><IsTruncated>false</IsTruncated></ListBucketResult>");
  REQUIRE(page);
  CHECK(page->truncated);
  CHECK(page->objects.at(0).key == "a+b&c");
  CHECK(page->common_prefixes == std::vector<std::string>{"p/"});
  CHECK(page->next_continuation_token == "t=");
  auto v1 = parse_list_objects_v1(
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>"
      "<NextContinuationToken>t</NextContinuationToken><NextMarker>m</NextMarker>"
      "<IsTruncated>true</IsTruncated></ListBucketResult>");
  REQUIRE(v1);
  CHECK(v1->next_continuation_token == "m");
}

TEST_CASE("deeply nested and huge XML bodies fail cleanly") {
  std::string deep;
  for (int i = 0; i < 200000; ++i) {
    deep += "<a>";
  }
  CHECK_FALSE(parse_list_objects_v2(deep));
  std::string closed = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (int i = 0; i < 100000; ++i) {
    closed += "<x>";
  }
  for (int i = 0; i < 100000; ++i) {
    closed += "</x>";
  }
  closed += "</ListBucketResult>";
  auto ok = parse_list_objects_v2(closed);
  CHECK(ok);
  std::string huge(max_xml_body + 1, ' ');
  CHECK_FALSE(parse_list_objects_v2(huge));
}

TEST_CASE("error bodies are parsed into code, message and request id") {
  auto e = parse_error_body(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The "
      "specified key does not exist.</Message><RequestId>5C3D9175B6FC201293AD****</RequestId>"
      "<HostId>b.oss-cn-hangzhou.aliyuncs.com</HostId><Key>a/b</Key><EC>0026-00000001</EC>"
      "</Error>");
  REQUIRE(e);
  CHECK(e->code == "NoSuchKey");
  CHECK(e->message == "The specified key does not exist.");
  CHECK(e->request_id == "5C3D9175B6FC201293AD****");
  CHECK(e->host_id == "b.oss-cn-hangzhou.aliyuncs.com");
  CHECK(e->key == "a/b");
  CHECK(e->ec == "0026-00000001");
  error err = make_oss_error(404, *e, "GET a/b");
  CHECK(err.code == ENOENT);
  CHECK(err.http_status == 404);
  CHECK(err.oss_code == "NoSuchKey");
  CHECK(err.request_id == "5C3D9175B6FC201293AD****");
  CHECK_FALSE(parse_error_body("<Error><Message>x</Message></Error>"));
  CHECK_FALSE(parse_error_body("<Error><Code>x</Code>"));
}

TEST_CASE("x-oss-err headers carry base64 error XML") {
  std::string xml =
      "<Error><Code>AccessDenied</Code><Message>denied</Message><RequestId>RID</RequestId>"
      "</Error>";
  auto e = parse_error_header(base64_encode(xml));
  REQUIRE(e);
  CHECK(e->code == "AccessDenied");
  CHECK(e->request_id == "RID");
  CHECK_FALSE(parse_error_header("not base64!"));
  CHECK_FALSE(parse_error_header(base64_encode("<Error>")));
}

TEST_CASE("OSS errors map to the errno a file-system call answers") {
  CHECK(errno_for_oss_error(404, "NoSuchKey") == ENOENT);
  CHECK(errno_for_oss_error(404, "NoSuchUpload") == ENOENT);
  CHECK(errno_for_oss_error(404, "") == ENOENT);  // a HEAD's bodiless 404
  CHECK(errno_for_oss_error(403, "AccessDenied") == EACCES);
  CHECK(errno_for_oss_error(403, "SignatureDoesNotMatch") == EACCES);
  CHECK(errno_for_oss_error(403, "InvalidObjectState") == EACCES);
  CHECK(errno_for_oss_error(401, "") == EACCES);
  CHECK(errno_for_oss_error(412, "PreconditionFailed") == ESTALE);
  CHECK(errno_for_oss_error(400, "InvalidObjectName") == EINVAL);
  CHECK(errno_for_oss_error(400, "EntityTooLarge") == EFBIG);
  // Past the client's retries, throttling is an I/O error: a blocking read(2) or stat(2) that
  // answered EAGAIN would be retried at once, or taken for a bug.
  CHECK(errno_for_oss_error(503, "TotalQpsLimitExceeded") == EIO);
  CHECK(errno_for_oss_error(503, "ServiceUnavailable") == EIO);
  CHECK(errno_for_oss_error(429, "") == EIO);
  CHECK(errno_for_oss_error(408, "RequestTimeout") == EIO);
  // The daemon computed the range: the caller's arguments were valid, the object changed.
  CHECK(errno_for_oss_error(416, "InvalidRange") == EIO);
  CHECK(errno_for_oss_error(416, "") == EIO);
  CHECK(errno_for_oss_error(500, "InternalError") == EIO);
  CHECK(errno_for_oss_error(409, "SomethingNew") == EIO);
}

TEST_CASE("the file system answers the OSS table's errno, and EIO for transport failures") {
  auto oss_failure = [](int status, std::string code, int client_errno) {
    error e = make_error(client_errno, "test");
    e.http_status = status;
    e.oss_code = std::move(code);
    return e;
  };
  // The same table whatever errno the error was built with (a test double, a body check).
  CHECK(fs::errno_for(oss_failure(503, "TotalQpsLimitExceeded", EAGAIN)) == EIO);
  CHECK(fs::errno_for(oss_failure(416, "", EINVAL)) == EIO);
  CHECK(fs::errno_for(oss_failure(403, "AccessDenied", EIO)) == EACCES);
  CHECK(fs::errno_for(oss_failure(0, "NoSuchKey", EIO)) == ENOENT);
  CHECK(fs::errno_for(oss_failure(412, "", EIO)) == ESTALE);
  // No OSS verdict: transport failures are I/O errors, other errnos pass through.
  CHECK(fs::errno_for(make_error(ECONNRESET, "reset")) == EIO);
  CHECK(fs::errno_for(make_error(EAGAIN, "stream refused")) == EIO);
  CHECK(fs::errno_for(oss_failure(200, "", EBADMSG)) == EIO);  // a body that failed its check
  CHECK(fs::errno_for(make_error(ENAMETOOLONG, "name")) == ENAMETOOLONG);
  CHECK(fs::errno_for(make_error(0, "no errno")) == EIO);
}

TEST_CASE("multipart and copy results are parsed") {
  auto id = parse_initiate_multipart(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>0004B9894A22E5B1888A1E29F823****</UploadId></InitiateMultipartUploadResult>");
  REQUIRE(id);
  CHECK(*id == "0004B9894A22E5B1888A1E29F823****");
  CHECK_FALSE(parse_initiate_multipart("<InitiateMultipartUploadResult/>"));
  auto etag = parse_copy_object_result(
      "<CopyObjectResult><ETag>\"F2064A169EE92E9775EE5324D0B1****\"</ETag>"
      "<LastModified>2019-04-09T03:45:32.000Z</LastModified></CopyObjectResult>");
  REQUIRE(etag);
  CHECK(*etag == "F2064A169EE92E9775EE5324D0B1****");
  CHECK_FALSE(parse_copy_object_result("<Error><Code>x</Code></Error>"));
  auto done = parse_complete_multipart_result(
      "<CompleteMultipartUploadResult><ETag>\"ABC-3\"</ETag></CompleteMultipartUploadResult>");
  REQUIRE(done);
  CHECK(*done == "ABC-3");
}

TEST_CASE("CompleteMultipartUpload bodies round-trip") {
  std::vector<part_etag> parts = {{1, "3349DC700140D7F86A0784842780****"}, {5, "AB\"&<"}};
  std::string body = build_complete_multipart(parts);
  CHECK(body.starts_with("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"3349"));
  auto back = parse_complete_multipart(body);
  REQUIRE(back);
  REQUIRE(back->size() == 2);
  CHECK((*back)[1].part_number == 5);
  CHECK((*back)[1].etag == "AB\"&<");
  CHECK_FALSE(
      parse_complete_multipart("<CompleteMultipartUpload><Part><PartNumber>0</PartNumber></Part></"
                               "CompleteMultipartUpload>"));
  CHECK_FALSE(
      parse_complete_multipart("<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></"
                               "CompleteMultipartUpload>"));
}

TEST_CASE("rendered V2 listings parse back to the same page") {
  list_render_input in;
  in.bucket = "bkt";
  in.prefix = "dir/";
  in.delimiter = "/";
  in.truncated = true;
  in.next_token = "tok+/=";
  in.url_encode = true;
  object_info o;
  o.key = "dir/we\x01ird & <key>\r\n";
  o.size = 42;
  o.mtime_sec = 1700000000;
  o.mtime_nsec = 5000000;
  o.etag = "ETAG";
  in.objects.push_back(o);
  in.common_prefixes = {"dir/sub dir/"};
  std::string xml = render_list_objects_v2(in);
  CHECK(xml.find("<KeyCount>2</KeyCount>") != std::string::npos);
  auto page = parse_list_objects_v2(xml);
  REQUIRE(page);
  CHECK(page->truncated);
  CHECK(page->next_continuation_token == "tok+/=");
  REQUIRE(page->objects.size() == 1);
  CHECK(page->objects[0].key == o.key);
  CHECK(page->objects[0].size == 42);
  CHECK(page->objects[0].mtime_sec == 1700000000);
  CHECK(page->objects[0].mtime_nsec == 5000000);
  CHECK(page->objects[0].etag == "ETAG");
  CHECK(page->objects[0].object_type == "Normal");
  CHECK(page->common_prefixes == in.common_prefixes);
}

TEST_CASE("rendered V1 listings and errors parse back") {
  list_render_input in;
  in.bucket = "bkt";
  in.truncated = true;
  in.next_token = "a b";
  in.objects.push_back(object_info{.key = "a b & c", .size = 1});
  auto page = parse_list_objects_v1(render_list_objects_v1(in));
  REQUIRE(page);
  CHECK(page->next_continuation_token == "a b");
  CHECK(page->objects.at(0).key == "a b & c");

  oss_error_info info{"NoSuchKey", "missing <key>", "RID", "host", "k", "0026-1", ""};
  auto e = parse_error_body(render_error(info));
  REQUIRE(e);
  CHECK(e->code == "NoSuchKey");
  CHECK(e->message == "missing <key>");
  CHECK(e->ec == "0026-1");
  CHECK(*parse_initiate_multipart(render_initiate_multipart("b", "k", "UP")) == "UP");
  CHECK(*parse_copy_object_result(render_copy_object_result("E", 0)) == "E");
  CHECK(*parse_complete_multipart_result(render_complete_multipart_result("b", "k", "E-2")) ==
        "E-2");
}

TEST_CASE("pugixml's pages are kept per thread up to the cap, and parses stay correct") {
  if (!oss::detail::pugi_pages_enabled) {
    return;  // bypassed under AddressSanitizer
  }
  // ~10,000 keys: a DOM of more pages than the cap, all freed at once when the parse ends.
  list_render_input in;
  in.bucket = "b";
  for (int i = 0; i < 10000; ++i) {
    in.objects.push_back(object_info{.key = "dir/key-" + std::to_string(i), .size = 1});
  }
  std::string xml = render_list_objects_v2(in);
  for (int round = 0; round < 3; ++round) {
    auto page = parse_list_objects_v2(xml);
    REQUIRE(page);
    REQUIRE(page->objects.size() == 10000);
    CHECK(page->objects[9999].key == "dir/key-9999");
    CHECK(oss::detail::pugi_cached_pages() == oss::detail::pugi_max_cached_pages);
  }
  // A block of another size (the copy pugixml makes of a body it parses out of place) is not a
  // page: it goes back to malloc and the count stays.
  std::string message(100000, 'm');
  auto err = parse_error_body("<Error><Code>C</Code><Message>" + message + "</Message></Error>");
  REQUIRE(err);
  CHECK(err->message == message);
  CHECK(oss::detail::pugi_cached_pages() == oss::detail::pugi_max_cached_pages);
}
