// The folder store's sidecar DIR/.ossemu/: record format, loading at start-up, atomic writes.
#include "tools/emu/detail/folder_sidecar.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstring>

#include "core/log.hh"
#include "http/oss/digest.hh"
#include "http/oss/uri.hh"

namespace ossuring::emu::detail {

namespace {

constexpr std::string_view magic = "ossemu-object 1";

error errno_error(std::string what) {
  int e = errno;
  return make_error(e, what + ": " + std::strerror(e));
}

std::string_view type_token(object_type t) {
  switch (t) {
    case object_type::multipart:
      return "multipart";
    case object_type::appendable:
      return "appendable";
    case object_type::normal:
      break;
  }
  return "normal";
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

result<std::string> read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno_error("open " + path);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      error e = errno_error("read " + path);
      ::close(fd);
      return e;
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::string encode_sidecar_record(const sidecar_record& r) {
  const object_entry& e = r.meta.entry;
  std::string out(magic);
  out += "\nkey " + oss::uri_encode(e.key);
  out += "\nsize " + std::to_string(e.size);
  out += "\nmtime " + std::to_string(e.mtime);
  out += "\nfile-mtime-ns " + std::to_string(r.file_mtime_ns);
  out += "\netag " + oss::uri_encode(e.etag);
  out += "\ntype ";
  out += type_token(e.type);
  out += "\nlocation ";
  out += r.in_sidecar ? "sidecar" : "folder";
  out += "\ncontent-type " + oss::uri_encode(r.meta.content_type);
  for (const auto& [name, value] : r.meta.user_meta) {
    out += "\nmeta " + oss::uri_encode(name) + ' ' + oss::uri_encode(value);
  }
  out += '\n';
  return out;
}

result<sidecar_record> decode_sidecar_record(std::string_view text) {
  auto bad = [](std::string_view why) {
    return make_error(EINVAL, "bad sidecar record: " + std::string(why));
  };
  if (!text.starts_with(magic) || text.size() == magic.size() || text[magic.size()] != '\n') {
    return bad("no header");
  }
  text.remove_prefix(magic.size() + 1);
  sidecar_record r;
  bool has_key = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return bad("truncated");
    }
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    size_t sp = line.find(' ');
    std::string_view name = line.substr(0, sp);
    std::string_view value = sp == std::string_view::npos ? "" : line.substr(sp + 1);
    object_entry& e = r.meta.entry;
    bool ok = true;
    if (name == "key") {
      auto k = oss::uri_decode(value);
      ok = k.ok() && !k->empty();
      if (ok) {
        e.key = std::move(*k);
        has_key = true;
      }
    } else if (name == "size") {
      ok = parse_number(value, e.size);
    } else if (name == "mtime") {
      ok = parse_number(value, e.mtime);
    } else if (name == "file-mtime-ns") {
      ok = parse_number(value, r.file_mtime_ns);
    } else if (name == "etag") {
      auto v = oss::uri_decode(value);
      ok = v.ok();
      if (ok) {
        e.etag = std::move(*v);
      }
    } else if (name == "type") {
      e.type = value == "multipart"    ? object_type::multipart
               : value == "appendable" ? object_type::appendable
                                       : object_type::normal;
    } else if (name == "location") {
      r.in_sidecar = value == "sidecar";
    } else if (name == "content-type") {
      auto v = oss::uri_decode(value);
      ok = v.ok();
      if (ok) {
        r.meta.content_type = std::move(*v);
      }
    } else if (name == "meta") {
      size_t sep = value.find(' ');
      auto n = oss::uri_decode(value.substr(0, sep));
      auto v = oss::uri_decode(sep == std::string_view::npos ? "" : value.substr(sep + 1));
      ok = n.ok() && v.ok();
      if (ok) {
        r.meta.user_meta.emplace_back(std::move(*n), std::move(*v));
      }
    }  // unknown fields: written by a newer ossemu, ignored
    if (!ok) {
      return bad("field " + std::string(name));
    }
  }
  if (!has_key) {
    return bad("no key");
  }
  return r;
}

folder_sidecar::folder_sidecar(std::string root)
    : _dir(std::move(root) + '/' + std::string(dir_name)) {}

std::string folder_sidecar::id_of(std::string_view key) {
  return oss::hex_lower(oss::md5(key));
}

std::string folder_sidecar::data_path(std::string_view key) const {
  return _dir + "/data/" + id_of(key);
}

result<std::unordered_map<std::string, sidecar_record>> folder_sidecar::load() const {
  std::unordered_map<std::string, sidecar_record> out;
  std::string meta_dir = _dir + "/meta";
  DIR* d = ::opendir(meta_dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) {
      return out;
    }
    return errno_error("open " + meta_dir);
  }
  while (struct dirent* de = ::readdir(d)) {
    std::string_view name = de->d_name;
    if (name.size() != 32 || name.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
      continue;  // ".", "..", temporary files
    }
    std::string path = meta_dir + '/' + std::string(name);
    auto text = read_small_file(path);
    auto rec = text ? decode_sidecar_record(*text) : result<sidecar_record>(std::move(text).err());
    if (!rec) {
      log_warn("emu_sidecar_record_skipped", {{"path", path}, {"error", rec.err().message}});
      continue;
    }
    if (id_of(rec->meta.entry.key) != name) {
      log_warn("emu_sidecar_record_skipped", {{"path", path}, {"error", "key does not match"}});
      continue;
    }
    std::string key = rec->meta.entry.key;
    out.insert_or_assign(std::move(key), std::move(*rec));
  }
  ::closedir(d);
  return out;
}

status folder_sidecar::ensure_dirs() const {
  for (const std::string& d : {_dir, _dir + "/meta", _dir + "/data"}) {
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
      return errno_error("mkdir " + d);
    }
  }
  return {};
}

status folder_sidecar::save(const sidecar_record& r) const {
  if (status s = ensure_dirs(); !s) {
    return s;
  }
  return write_file_atomically(_dir + "/meta/" + id_of(r.meta.entry.key), encode_sidecar_record(r));
}

status folder_sidecar::save_data(std::string_view key, std::string_view data) const {
  if (status s = ensure_dirs(); !s) {
    return s;
  }
  return write_file_atomically(data_path(key), data);
}

void folder_sidecar::remove(std::string_view key) const {
  std::string id = id_of(key);
  ::unlink((_dir + "/meta/" + id).c_str());
  ::unlink((_dir + "/data/" + id).c_str());
}

status write_file_atomically(const std::string& target, std::string_view data) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = target.substr(0, target.rfind('/') + 1) + ".ossemu-tmp-" +
                    std::to_string(::getpid()) + "-" + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return errno_error("create " + tmp);
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      error e = errno_error("write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    error e = errno_error("rename " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

}  // namespace ossuring::emu::detail
