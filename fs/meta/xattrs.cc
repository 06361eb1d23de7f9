// xattr_reader: user.oss.etag and user.oss.storage_class from metadata, user.oss.crc64 and
// user.oss.meta.* from a HEAD kept for attr_timeout; any other name costs nothing (ENODATA).
#include "fs/meta/xattrs.hh"

#include "fs/errors.hh"

namespace ossuring::fs {

namespace {

constexpr std::string_view xattr_prefix = "user.oss.";
constexpr std::string_view xattr_meta_prefix = "user.oss.meta.";

}  // namespace

task<result<oss::object_info>> xattr_reader::head_cached(uint64_t ino, const std::string& key) {
  auto t = _ctx.now();
  if (auto it = _heads.find(ino); it != _heads.end() && t < it->second.second) {
    co_return it->second.first;
  }
  ++_ctx.counters.meta_requests;
  auto h = co_await _ctx.client.head_object(key);
  if (!h) {
    co_return to_fs_error(std::move(h).err());
  }
  _heads[ino] = {*h, _ctx.now() + _ctx.opts.attr_timeout};
  co_return std::move(*h);
}

task<result<std::string>> xattr_reader::get(uint64_t ino, std::string_view name) {
  auto n = _meta.resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  // Only our own namespace is answered; everything else (security.*, system.*) costs nothing.
  if (n->attrs.is_dir || name.substr(0, xattr_prefix.size()) != xattr_prefix) {
    co_return make_error(ENODATA, "no such attribute");
  }
  if (name == "user.oss.etag") {
    if (n->attrs.etag.empty()) {
      co_return make_error(ENODATA, "no ETag");
    }
    co_return n->attrs.etag;
  }
  if (name == "user.oss.storage_class") {
    co_return std::string(storage_class_name(n->attrs.storage));
  }
  if (name == "user.oss.crc64" || name.substr(0, xattr_meta_prefix.size()) == xattr_meta_prefix) {
    auto h = co_await head_cached(ino, n->key);
    if (!h) {
      co_return std::move(h).err();
    }
    if (name == "user.oss.crc64") {
      if (!h->crc64) {
        co_return make_error(ENODATA, "no CRC-64");
      }
      co_return std::to_string(*h->crc64);
    }
    auto it = h->user_meta.find(std::string(name.substr(xattr_meta_prefix.size())));
    if (it == h->user_meta.end()) {
      co_return make_error(ENODATA, "no such attribute");
    }
    co_return it->second;
  }
  co_return make_error(ENODATA, "no such attribute");
}

task<result<std::vector<std::string>>> xattr_reader::list(uint64_t ino) {
  auto n = _meta.resolve(ino);
  if (!n) {
    co_return std::move(n).err();
  }
  std::vector<std::string> names;
  if (n->attrs.is_dir) {
    co_return names;
  }
  if (!n->attrs.etag.empty()) {
    names.emplace_back("user.oss.etag");
  }
  names.emplace_back("user.oss.storage_class");
  names.emplace_back("user.oss.crc64");
  // User metadata needs a HEAD: list it only when one is cached (listxattr stays free).
  if (auto it = _heads.find(ino); it != _heads.end() && _ctx.now() < it->second.second) {
    for (const auto& [k, v] : it->second.first.user_meta) {
      names.push_back(std::string(xattr_meta_prefix) + k);
    }
  }
  co_return names;
}

}  // namespace ossuring::fs
