// Bucket-level answers shaped as OSS writes them: ListBuckets (GetService), GetBucketInfo,
// GetBucketLocation, GetBucketAcl, GetBucketVersioning; and GetObjectAcl. Every bucket belongs to
// the emulator's one owner, is private, Standard, unversioned, and was created when the handler
// was made.
#include <charconv>

#include "http/oss/time.hh"
#include "tools/emu/detail/context.hh"
#include "tools/emu/detail/xml.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu {

using detail::add_owner;
using detail::add_text;

response handler::list_buckets(context& c) {
  // prefix, marker (buckets strictly after it) and max-keys (1..1000, default 100) as OSS; the
  // paging elements are answered only when the request names them.
  size_t max_keys = 100;
  if (c.has("max-keys")) {
    std::string_view mk = c.param("max-keys");
    auto [end, ec] = std::from_chars(mk.data(), mk.data() + mk.size(), max_keys);
    if (ec != std::errc() || end != mk.data() + mk.size() || max_keys == 0 || max_keys > 1000) {
      return error_response(c, 400, "InvalidArgument", "max-keys must be between 1 and 1000.");
    }
  }
  std::string_view prefix = c.param("prefix");
  std::string_view marker = c.param("marker");
  std::vector<std::string_view> names;
  bool truncated = false;
  for (const auto& [name, objects] : _buckets) {
    if (!std::string_view(name).starts_with(prefix) || std::string_view(name) <= marker) {
      continue;
    }
    if (names.size() == max_keys) {
      truncated = true;
      break;
    }
    names.push_back(name);
  }
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "ListAllMyBucketsResult");
  if (c.has("prefix") || c.has("marker") || c.has("max-keys")) {
    add_text(root, "Prefix", prefix);
    add_text(root, "Marker", marker);
    add_text(root, "MaxKeys", std::to_string(max_keys));
    add_text(root, "IsTruncated", truncated ? "true" : "false");
    if (truncated) {
      add_text(root, "NextMarker", names.back());
    }
  }
  add_owner(root, _owner_id);
  pugi::xml_node buckets = root.append_child("Buckets");
  const std::string created = oss::format_iso8601(_created);
  for (std::string_view name : names) {
    pugi::xml_node b = buckets.append_child("Bucket");
    add_text(b, "CreationDate", created);
    add_text(b, "ExtranetEndpoint", "oss-" + _cfg.region + ".aliyuncs.com");
    add_text(b, "IntranetEndpoint", "oss-" + _cfg.region + "-internal.aliyuncs.com");
    add_text(b, "Location", "oss-" + _cfg.region);
    add_text(b, "Name", name);
    add_text(b, "Region", _cfg.region);
    add_text(b, "StorageClass", "Standard");
  }
  return detail::xml_response(doc);
}

response handler::bucket_subresource(context& c) {
  pugi::xml_document doc;
  if (c.has("location")) {
    detail::start_document(doc, "LocationConstraint").text().set(("oss-" + _cfg.region).c_str());
  } else if (c.has("bucketInfo")) {
    pugi::xml_node b = detail::start_document(doc, "BucketInfo").append_child("Bucket");
    add_text(b, "AccessMonitor", "Disabled");
    add_text(b, "CreationDate", oss::format_iso8601(_created));
    add_text(b, "ExtranetEndpoint", "oss-" + _cfg.region + ".aliyuncs.com");
    add_text(b, "IntranetEndpoint", "oss-" + _cfg.region + "-internal.aliyuncs.com");
    add_text(b, "Location", "oss-" + _cfg.region);
    add_text(b, "StorageClass", "Standard");
    add_text(b, "TransferAcceleration", "Disabled");
    add_text(b, "CrossRegionReplication", "Disabled");
    add_text(b, "Name", c.bucket);
    add_owner(b, _owner_id, /*display_name_first=*/true);
    add_text(b.append_child("AccessControlList"), "Grant", "private");
    add_text(b, "DataRedundancyType", "LRS");
  } else if (c.has("acl")) {
    pugi::xml_node root = detail::start_document(doc, "AccessControlPolicy");
    add_owner(root, _owner_id);
    add_text(root.append_child("AccessControlList"), "Grant", "private");
  } else if (c.has("versioning")) {
    // Never enabled: OSS answers the element without a Status.
    detail::start_document(doc, "VersioningConfiguration");
  } else {
    return error_response(c, 501, "NotImplemented", "ossemu does not implement this operation.");
  }
  return detail::xml_response(doc);
}

response handler::get_object_acl(context& c) {
  if (!c.objects->head(c.key)) {
    return error_response(c, 404, "NoSuchKey", "The specified key does not exist.");
  }
  pugi::xml_document doc;
  pugi::xml_node root = detail::start_document(doc, "AccessControlPolicy");
  add_owner(root, _owner_id);
  // An object without its own ACL follows its bucket's: OSS calls that "default".
  add_text(root.append_child("AccessControlList"), "Grant", "default");
  return detail::xml_response(doc);
}

}  // namespace ossuring::emu
