// Emulator-side XML rendering with pugixml (which escapes text for us).
#include "http/oss/xml_render.hh"

#include <pugixml.hpp>

#include "http/oss/detail/pugi_string.hh"
#include "http/oss/time.hh"
#include "http/oss/uri.hh"

namespace ossuring::oss {

namespace {

void add(pugi::xml_node parent, const char* name, std::string_view value) {
  parent.append_child(name).text().set(std::string(value).c_str());
}

std::string quoted(std::string_view etag) {
  return "\"" + std::string(etag) + "\"";
}

// Writes what V1 and V2 share; `v2` selects the marker/token element names.
std::string render_listing(const list_render_input& in, bool v2) {
  auto enc = [&](std::string_view s) { return in.url_encode ? uri_encode(s) : std::string(s); };
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("ListBucketResult");
  add(root, "Name", in.bucket);
  add(root, "Prefix", enc(in.prefix));
  if (v2) {
    if (!in.start_after.empty()) {
      add(root, "StartAfter", enc(in.start_after));
    }
    if (!in.continuation_token.empty()) {
      add(root, "ContinuationToken", enc(in.continuation_token));
    }
  } else {
    add(root, "Marker", enc(in.marker));
  }
  add(root, "MaxKeys", std::to_string(in.max_keys));
  add(root, "Delimiter", enc(in.delimiter));
  if (in.url_encode) {
    add(root, "EncodingType", "url");
  }
  add(root, "IsTruncated", in.truncated ? "true" : "false");
  if (!in.next_token.empty()) {
    add(root, v2 ? "NextContinuationToken" : "NextMarker", enc(in.next_token));
  }
  if (v2) {
    add(root, "KeyCount", std::to_string(in.objects.size() + in.common_prefixes.size()));
  }
  for (const object_info& o : in.objects) {
    pugi::xml_node c = root.append_child("Contents");
    add(c, "Key", enc(o.key));
    add(c, "LastModified", format_iso8601(o.mtime_sec, o.mtime_nsec));
    add(c, "ETag", quoted(o.etag));
    add(c, "Type", o.object_type.empty() ? "Normal" : o.object_type);
    add(c, "Size", std::to_string(o.size));
    add(c, "StorageClass", o.storage_class.empty() ? "Standard" : o.storage_class);
  }
  for (const std::string& p : in.common_prefixes) {
    add(root.append_child("CommonPrefixes"), "Prefix", enc(p));
  }
  return detail::to_string(doc, true);
}

}  // namespace

std::string render_list_objects_v2(const list_render_input& in) {
  return render_listing(in, true);
}

std::string render_list_objects_v1(const list_render_input& in) {
  return render_listing(in, false);
}

std::string render_error(const oss_error_info& info, std::string_view canonical_request) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Error");
  add(root, "Code", info.code);
  add(root, "Message", info.message);
  add(root, "RequestId", info.request_id);
  add(root, "HostId", info.host_id);
  if (!info.key.empty()) {
    add(root, "Key", info.key);
  }
  if (!info.string_to_sign.empty()) {
    add(root, "StringToSign", info.string_to_sign);
  }
  if (!canonical_request.empty()) {
    add(root, "CanonicalRequest", canonical_request);
  }
  if (!info.ec.empty()) {
    add(root, "EC", info.ec);
    add(root, "RecommendDoc", "https://api.aliyun.com/troubleshoot?q=" + info.ec);
  }
  return detail::to_string(doc, true);
}

std::string render_initiate_multipart(std::string_view bucket, std::string_view key,
                                      std::string_view upload_id) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("InitiateMultipartUploadResult");
  add(root, "Bucket", bucket);
  add(root, "Key", key);
  add(root, "UploadId", upload_id);
  return detail::to_string(doc, true);
}

std::string render_copy_object_result(std::string_view etag, int64_t mtime_sec) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CopyObjectResult");
  add(root, "ETag", quoted(etag));
  add(root, "LastModified", format_iso8601(mtime_sec));
  return detail::to_string(doc, true);
}

std::string render_copy_part_result(std::string_view etag, int64_t mtime_sec) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CopyPartResult");
  add(root, "LastModified", format_iso8601(mtime_sec));
  add(root, "ETag", quoted(etag));
  return detail::to_string(doc, true);
}

std::string render_complete_multipart_result(std::string_view bucket, std::string_view key,
                                             std::string_view etag) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUploadResult");
  add(root, "Location", "/" + std::string(bucket) + "/" + std::string(key));
  add(root, "Bucket", bucket);
  add(root, "Key", key);
  add(root, "ETag", quoted(etag));
  return detail::to_string(doc, true);
}

}  // namespace ossuring::oss
