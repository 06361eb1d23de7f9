// index's flat file: header with magic, version and SHA-256, then nodes, names and the ETag arena.
#include "fs/index.hh"

#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace ossuring::fs {

namespace {

constexpr char file_magic[8] = {'O', 'S', 'S', 'U', 'I', 'D', 'X', '\n'};
constexpr uint32_t file_version = 1;
constexpr uint32_t byte_order_mark = 0x01020304;

struct file_head {
  char magic[8];
  uint32_t version;
  uint32_t byte_order;
  uint8_t sha256[32];  // of everything after this header
};

struct file_body_head {
  uint64_t node_count;
  uint64_t names_size;
  uint64_t extra_size;
  int64_t build_time;
  uint32_t bucket_len;
  uint32_t prefix_len;
  uint64_t stats[6];
};

void sha256(const std::byte* p, size_t n, uint8_t out[32]) {
  unsigned len = 32;
  EVP_Digest(p, n, out, &len, EVP_sha256(), nullptr);
}

template <typename T>
void append_raw(std::vector<std::byte>& out, const T* p, size_t count) {
  auto b = reinterpret_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + count * sizeof(T));
}

error corrupt(std::string why) {
  return make_error(EINVAL, "index file: " + std::move(why));
}

}  // namespace

std::vector<std::byte> index::serialize(std::string_view bucket, std::string_view prefix) const {
  std::vector<std::byte> out(sizeof(file_head));
  file_body_head bh{};
  bh.node_count = _nodes.size();
  bh.names_size = _names.size();
  bh.extra_size = _extra.size();
  bh.build_time = _build_time;
  bh.bucket_len = static_cast<uint32_t>(bucket.size());
  bh.prefix_len = static_cast<uint32_t>(prefix.size());
  uint64_t st[6] = {_stats.objects,    _stats.directories,    _stats.markers,
                    _stats.duplicates, _stats.shadowed_files, _stats.skipped_keys};
  std::memcpy(bh.stats, st, sizeof st);
  append_raw(out, &bh, 1);
  append_raw(out, bucket.data(), bucket.size());
  append_raw(out, prefix.data(), prefix.size());
  append_raw(out, _nodes.data(), _nodes.size());
  append_raw(out, _names.data(), _names.size());
  append_raw(out, _extra.data(), _extra.size());
  file_head h{};
  std::memcpy(h.magic, file_magic, sizeof file_magic);
  h.version = file_version;
  h.byte_order = byte_order_mark;
  sha256(out.data() + sizeof h, out.size() - sizeof h, h.sha256);
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

result<index> index::deserialize(std::span<const std::byte> image, std::string_view bucket,
                                 std::string_view prefix) {
  file_head h;
  if (image.size() < sizeof h + sizeof(file_body_head)) {
    return corrupt("too short");
  }
  std::memcpy(&h, image.data(), sizeof h);
  if (std::memcmp(h.magic, file_magic, sizeof file_magic) != 0) {
    return corrupt("not an ossuring index");
  }
  if (h.version != file_version || h.byte_order != byte_order_mark) {
    return corrupt("unsupported version or byte order");
  }
  uint8_t sum[32];
  sha256(image.data() + sizeof h, image.size() - sizeof h, sum);
  if (std::memcmp(sum, h.sha256, 32) != 0) {
    return corrupt("checksum mismatch");
  }
  file_body_head bh;
  size_t pos = sizeof h;
  std::memcpy(&bh, image.data() + pos, sizeof bh);
  pos += sizeof bh;
  // Sizes are checked one by one so that no sum can overflow.
  size_t left = image.size() - pos;
  if (bh.node_count == 0 || bh.node_count > left / sizeof(node) || bh.names_size > left ||
      bh.extra_size > left || bh.bucket_len > left || bh.prefix_len > left ||
      bh.node_count >= UINT32_MAX) {
    return corrupt("bad sizes");
  }
  uint64_t need = bh.bucket_len + uint64_t{bh.prefix_len} + bh.node_count * sizeof(node) +
                  bh.names_size + bh.extra_size;
  if (need != left) {
    return corrupt("bad sizes");
  }
  auto chars = reinterpret_cast<const char*>(image.data());
  std::string_view b(chars + pos, bh.bucket_len);
  pos += bh.bucket_len;
  std::string_view p(chars + pos, bh.prefix_len);
  pos += bh.prefix_len;
  if (b != bucket || p != prefix) {
    return make_error(ESTALE, "index file: made for oss://" + std::string(b) + "/" +
                                  std::string(p) + ", not this mount");
  }
  index out;
  out._nodes.resize(bh.node_count);
  std::memcpy(out._nodes.data(), image.data() + pos, bh.node_count * sizeof(node));
  pos += bh.node_count * sizeof(node);
  out._names.assign(chars + pos, bh.names_size);
  pos += bh.names_size;
  out._extra.assign(chars + pos, bh.extra_size);
  out._build_time = bh.build_time;
  uint64_t* st[6] = {&out._stats.objects,    &out._stats.directories,    &out._stats.markers,
                     &out._stats.duplicates, &out._stats.shadowed_files, &out._stats.skipped_keys};
  for (int i = 0; i < 6; ++i) {
    *st[i] = bh.stats[i];
  }
  // Structural check, so even a well-checksummed but crafted file (a shared image is written by
  // whoever may write its key) cannot make us read out of bounds later, nor serve a name the
  // listing could not have produced.
  const uint64_t n = out._nodes.size();
  if (out._stats.objects > n || out._stats.directories > n || out._stats.markers > n ||
      out._stats.shadowed_files > n) {
    return corrupt("counts above the node count");  // statfs and logs would show them
  }
  // Path bytes below the prefix, per node: a crafted chain of directories could otherwise make
  // every path walk and GET key as long as the image (OSS keys stop at 1023 bytes).
  constexpr uint64_t max_path = 4096;
  std::vector<uint16_t> path_len(n, 0);
  uint64_t children = 0;  // over every directory: each node but the root sits in exactly one
  for (uint64_t i = 0; i < n; ++i) {
    const node& nd = out._nodes[i];
    if (nd.name_off() + nd.name_len() > out._names.size() || (i > 0 && nd.parent >= i)) {
      return corrupt("bad node");
    }
    if ((nd.flags() & flag_dir) && (nd.first_child > n || nd.child_count > n - nd.first_child)) {
      return corrupt("bad directory");
    }
    if (nd.flags() & flag_dir) {
      children += nd.child_count;  // at most n per directory, n directories: no overflow
    }
    if (nd.size > max_file_size || nd.storage() > static_cast<uint8_t>(storage_class::other)) {
      return corrupt("bad attributes");
    }
    if (i > 0) {
      // A path component, as index_builder makes them: never empty, ".", "..", nor holding '/'
      // or NUL (a key outside the prefix would need one of those).
      const std::string_view nm(out._names.data() + nd.name_off(), nd.name_len());
      if (nm.empty() || nm == "." || nm == ".." ||
          nm.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
        return corrupt("bad name");
      }
    }
    if (i > 0) {
      const uint64_t len = path_len[nd.parent] + uint64_t{nd.name_len()} + 1;
      if (len > max_path) {
        return corrupt("path too long");
      }
      path_len[i] = static_cast<uint16_t>(len);
      // Every node sits in its parent's child range, and that parent is a directory: walks up
      // from a node (prefetch's siblings, paths) then stay inside ranges checked above.
      const node& p = out._nodes[nd.parent];
      if (!(p.flags() & flag_dir) || i < p.first_child || i - p.first_child >= p.child_count) {
        return corrupt("node outside its parent");
      }
      if (i > p.first_child) {
        // Siblings strictly sorted: lookup's binary search finds every name, and no name twice.
        const node& prev = out._nodes[i - 1];
        const std::string_view a(out._names.data() + prev.name_off(), prev.name_len());
        const std::string_view b(out._names.data() + nd.name_off(), nd.name_len());
        if (!(a < b)) {
          return corrupt("siblings out of order");
        }
      }
    }
    if (nd.flags() & flag_etag_extra) {
      uint64_t off = 0;
      uint16_t len = 0;
      std::memcpy(&off, nd.etag, 8);
      std::memcpy(&len, nd.etag + 8, 2);
      if (off > out._extra.size() || len > out._extra.size() - off) {
        return corrupt("bad etag");
      }
    }
  }
  if (!(out._nodes[0].flags() & flag_dir)) {
    return corrupt("root is not a directory");
  }
  if (children != n - 1) {
    // Every node sits in its parent's range (checked above); with n - 1 places in all, no range
    // holds another directory's node or the root.
    return corrupt("overlapping directories");
  }
  return out;
}

status index::save(const std::string& file, std::string_view bucket,
                   std::string_view prefix) const {
  std::vector<std::byte> img = serialize(bucket, prefix);
  // One temporary name per process: a daemon still writing as it exits never shares its file
  // with the next mount's daemon (each write is whole before its rename).
  std::string tmp = file + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      return make_error(EIO, "cannot write " + tmp);
    }
  }
  // Rename so a crash never leaves a half-written index under the real name.
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return make_error(err, "cannot rename " + tmp);
  }
  return {};
}

result<index> index::load(const std::string& file, std::string_view bucket,
                          std::string_view prefix) {
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    return make_error(ENOENT, "cannot open " + file);
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return deserialize(std::as_bytes(std::span<const char>(bytes)), bucket, prefix);
}

}  // namespace ossuring::fs
