// Mount configuration parsing: one table of options, read from argv, -o lists and config files.
#include "tools/cli/config.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "core/file.hh"
#include "http/oss/credentials.hh"
#include "tools/cli/detail/config_options.hh"
#include "tools/cli/help.hh"

namespace ossuring::cli {

namespace {

using detail::find_option;
using detail::is_ignored_mount_option;
using detail::kind;
using detail::option_def;
using detail::takes_value;

bool parse_bool(std::string_view v, bool* out) {
  if (v.empty() || v == "1" || v == "true" || v == "yes" || v == "on") {
    *out = true;
    return true;
  }
  if (v == "0" || v == "false" || v == "no" || v == "off") {
    *out = false;
    return true;
  }
  return false;
}

// 1073741824 -> "1G"; sizes that are no whole unit stay in bytes.
std::string size_text(uint64_t v) {
  static constexpr const char* units[] = {"T", "G", "M", "K"};
  for (int i = 0; i < 4; ++i) {
    uint64_t unit = 1ull << (10 * (4 - i));
    if (v != 0 && v % unit == 0) {
      return std::to_string(v / unit) + units[i];
    }
  }
  return std::to_string(v);
}

status out_of_range(std::string_view name, std::string_view value, const option_def& d) {
  auto text = [&](uint64_t v) { return d.type == kind::size ? size_text(v) : std::to_string(v); };
  std::string range = d.max == std::numeric_limits<uint64_t>::max()
                          ? "at least " + text(d.min)
                          : "from " + text(d.min) + " to " + text(d.max);
  if (d.type == kind::seconds) {
    range += " seconds";
  }
  return make_error(EINVAL, "option '" + std::string(name) + "' wants " + range + ", not '" +
                                std::string(value) + "'");
}

}  // namespace

result<uint64_t> parse_size(std::string_view s) {
  if (s.empty()) {
    return make_error(EINVAL, "empty size");
  }
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  // from_chars also reads "inf" and "nan".
  if (ec != std::errc() || !std::isfinite(value) || value < 0) {
    return make_error(EINVAL, "bad size '" + std::string(s) + "'");
  }
  std::string unit(end, s.data() + s.size());
  for (char& c : unit) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  double mult = 1;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    mult = 1024.0;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    mult = 1024.0 * 1024;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "t" || unit == "tb" || unit == "tib") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return make_error(EINVAL, "bad size unit in '" + std::string(s) + "'");
  }
  double bytes = std::round(value * mult);
  // 2^64 itself: doubles just below it are 2^64 - 2048 at most, so the cast below is exact.
  if (bytes >= 18446744073709551616.0) {
    return make_error(ERANGE, "size '" + std::string(s) + "' is larger than 16E");
  }
  return static_cast<uint64_t>(bytes);
}

status parse_resource_limit(std::string_view s, unsigned* cores, uint64_t* memory) {
  size_t c = s.find('c');
  if (c == std::string_view::npos || c == 0) {
    return make_error(EINVAL, "bad resourceLimit '" + std::string(s) + "': want e.g. 4c8g");
  }
  unsigned n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + c, n);
  if (ec != std::errc() || p != s.data() + c || n == 0) {
    return make_error(EINVAL, "bad core count in resourceLimit '" + std::string(s) + "'");
  }
  result<uint64_t> mem = parse_size(s.substr(c + 1));
  if (!mem.ok()) {
    return make_error(EINVAL, "bad memory in resourceLimit '" + std::string(s) + "'");
  }
  *cores = n;
  *memory = *mem;
  return {};
}

status parse_oss_url(std::string_view url, std::string* bucket, std::string* prefix) {
  constexpr std::string_view scheme = "oss://";
  if (url.substr(0, scheme.size()) != scheme) {
    return make_error(EINVAL, "expected oss://bucket[/prefix], got '" + std::string(url) + "'");
  }
  std::string_view rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  *bucket = std::string(rest.substr(0, slash));
  *prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  if (bucket->empty()) {
    return make_error(EINVAL, "no bucket in '" + std::string(url) + "'");
  }
  if (!prefix->empty() && prefix->back() != '/') {
    *prefix += '/';
  }
  return {};
}

status apply_option(mount_config& cfg, std::string_view name, std::string_view value,
                    bool has_value) {
  if (name == "resourceLimit" || name == "resource-limit") {
    unsigned cores = 0;
    uint64_t mem = 0;
    status st = parse_resource_limit(value, &cores, &mem);
    if (!st.ok()) {
      return st;
    }
    if (const option_def* m = find_option("memory-limit"); mem < m->min) {
      return make_error(EINVAL, "option '" + std::string(name) + "' wants at least " +
                                    size_text(m->min) + " of memory, not '" + std::string(value) +
                                    "'");
    }
    cfg.cpus = cores == 1 ? "0" : "0-" + std::to_string(cores - 1);
    cfg.memory_limit = mem;
    return {};
  }
  const option_def* d = find_option(name);
  if (d && name != d->names[0] && detail::is_ossfs2_name(name)) {
    cfg.ossfs_style = true;
  }
  if (!d) {
    if (is_ignored_mount_option(name)) {
      cfg.ignored.emplace_back(name);
      return {};
    }
    return make_error(EINVAL, "unknown option '" + std::string(name) + "'");
  }
  std::string v(value);
  uint64_t u = 0;
  double secs = 0;
  bool flag = true;
  switch (d->type) {
    case kind::str:
      if (!has_value) {
        return make_error(EINVAL, "option '" + std::string(name) + "' needs a value");
      }
      break;
    case kind::flag:
      if (has_value && !parse_bool(value, &flag)) {
        return make_error(EINVAL, "option '" + std::string(name) + "' wants true or false");
      }
      break;
    case kind::uint: {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), u);
      if (has_value && ec == std::errc::result_out_of_range && p == v.data() + v.size()) {
        return out_of_range(name, value, *d);
      }
      if (!has_value || ec != std::errc() || p != v.data() + v.size()) {
        return make_error(EINVAL, "option '" + std::string(name) + "' wants a whole number");
      }
      break;
    }
    case kind::octal: {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), u, 8);
      if (!has_value || ec != std::errc() || p != v.data() + v.size() || u > 0777) {
        return make_error(EINVAL, "option '" + std::string(name) + "' wants octal bits");
      }
      break;
    }
    case kind::size: {
      result<uint64_t> r = parse_size(value);
      if (has_value && !r.ok() && r.err().code == ERANGE) {
        return out_of_range(name, value, *d);
      }
      if (!has_value || !r.ok()) {
        return make_error(EINVAL, "option '" + std::string(name) + "' wants a size like 64M");
      }
      u = *r;
      break;
    }
    case kind::seconds: {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
      if (!has_value || ec != std::errc() || p != v.data() + v.size() || !std::isfinite(secs)) {
        return make_error(EINVAL, "option '" + std::string(name) + "' wants seconds");
      }
      if (secs < static_cast<double>(d->min) || secs > static_cast<double>(d->max)) {
        return out_of_range(name, value, *d);
      }
      break;
    }
  }
  if (d->type != kind::str && d->type != kind::flag && d->type != kind::seconds &&
      (u < d->min || u > d->max)) {
    return out_of_range(name, value, *d);
  }
  d->set(cfg, v, u, secs, flag);
  return {};
}

status apply_config_file(mount_config& cfg, const std::string& path) {
  mode_t mode = 0;  // of the file read, for the secret check once its contents are known
  result<std::string> text =
      read_small_file("config file " + path, path, [&](const struct stat& st) -> status {
        mode = st.st_mode;
        // A config file can set credential_process, a command run as this user (often root): only
        // this user or root may be able to change it.
        if (st.st_uid != ::geteuid() && st.st_uid != 0) {
          return make_error(EPERM, "config file " + path + " is owned by uid " +
                                       std::to_string(st.st_uid) + ", neither this user (uid " +
                                       std::to_string(::geteuid()) + ") nor root: refused");
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
          return make_error(
              EPERM, "config file " + path + " is writable by group or others: chmod go-w it");
        }
        return {};
      });
  if (!text.ok()) {
    return std::move(text).err();
  }
  cfg.ossfs_style = true;  // ossfs 2.0's format
  unsigned lineno = 0;
  bool has_secret = false;
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
    ++lineno;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string_view::npos || line[b] == '#') {
      continue;
    }
    size_t e = line.find_last_not_of(" \t\r");
    std::string_view l = line.substr(b, e - b + 1);
    while (!l.empty() && l.front() == '-') {
      l.remove_prefix(1);
    }
    size_t eq = l.find('=');
    std::string_view name = l.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : l.substr(eq + 1);
    has_secret = has_secret || detail::is_secret_option(name);
    status s = apply_option(cfg, name, value, eq != std::string_view::npos);
    if (!s.ok()) {
      return make_error(EINVAL, path + ":" + std::to_string(lineno) + ": " + s.err().message);
    }
  }
  if (has_secret && (mode & 077) != 0) {
    return make_error(
        EPERM, "config file " + path + " holds a secret and is readable by others: chmod 600 it");
  }
  return {};
}

status check_credentials(const mount_config& cfg) {
  bool id = !cfg.access_key_id.empty();
  bool secret = !cfg.access_key_secret.empty();
  if (id && !secret) {
    return make_error(EINVAL, "--access-key-id is given without --access-key-secret");
  }
  if (secret && !id) {
    return make_error(EINVAL, "--access-key-secret is given without --access-key-id");
  }
  if (!cfg.security_token.empty() && !id) {
    return make_error(EINVAL,
                      "--sts-token needs the temporary --access-key-id and --access-key-secret "
                      "it was issued with");
  }
  if (cfg.passwd_file.empty()) {
    return {};
  }
  // The same refusals as the passwd provider's, made now: an explicitly named file that cannot
  // be used is a mistake to report, not a source to skip.
  const std::string what = "--passwd-file " + cfg.passwd_file;
  result<std::string> text =
      read_small_file(what, cfg.passwd_file, [&](const struct stat& st) -> status {
        if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
          return make_error(EACCES, what + " is accessible by group or others: chmod 600 it");
        }
        return {};
      });
  if (!text.ok()) {
    return std::move(text).err();
  }
  if (result<oss::credentials> c = oss::parse_passwd_file(*text, cfg.bucket); !c.ok()) {
    return make_error(EINVAL, what + ": " + c.err().message);
  }
  return {};
}

size_t hide_secret_arguments(int argc, char** argv) {
  size_t hidden = 0;
  auto hide = [&](char* value, size_t len) {
    if (len > 0) {
      std::memset(value, 'x', len);
      ++hidden;
    }
  };
  // The same reading of the arguments as parse_mount_args's, so only option values are touched.
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      ++i;
    } else if (a == "-o" && i + 1 < argc) {
      char* list = argv[++i];
      size_t len = std::strlen(list);
      for (size_t pos = 0; pos < len;) {
        size_t end = std::string_view(list, len).find(',', pos);
        end = end == std::string_view::npos ? len : end;
        std::string_view item(list + pos, end - pos);
        size_t eq = item.find('=');
        if (eq != std::string_view::npos && detail::is_secret_option(item.substr(0, eq))) {
          hide(list + pos + eq + 1, item.size() - eq - 1);
        }
        pos = end + 1;
      }
    } else if (a.size() > 2 && a.starts_with("--")) {
      std::string_view body = a.substr(2);
      size_t eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      if (eq != std::string_view::npos) {
        if (detail::is_secret_option(name)) {
          hide(argv[i] + 2 + eq + 1, body.size() - eq - 1);
        }
      } else if (takes_value(name) && i + 1 < argc) {
        ++i;
        if (detail::is_secret_option(name)) {
          hide(argv[i], std::strlen(argv[i]));
        }
      }
    }
  }
  return hidden;
}

result<mount_config> parse_mount_args(const std::vector<std::string>& args, mount_form form) {
  mount_config cfg;
  bool helper_rw = false;  // mount(8)'s implicit rw, seen and set aside
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto need_next = [&](const char* what) -> result<std::string> {
      if (i + 1 >= args.size()) {
        return make_error(EINVAL, std::string(what) + " needs a value");
      }
      return args[++i];
    };
    if (a == "-c" || a == "--config") {
      result<std::string> f = need_next("-c");
      if (!f.ok()) {
        return std::move(f).err();
      }
      if (status s = apply_config_file(cfg, *f); !s.ok()) {
        return std::move(s).err();
      }
    } else if (a == "-o") {
      result<std::string> list = need_next("-o");
      if (!list.ok()) {
        return std::move(list).err();
      }
      std::string_view rest = *list;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
        if (item.empty()) {
          continue;
        }
        if (form == mount_form::helper && item == "rw") {
          helper_rw = true;
          continue;
        }
        size_t eq = item.find('=');
        if (status s = apply_option(cfg, item.substr(0, eq),
                                    eq == std::string_view::npos ? "" : item.substr(eq + 1),
                                    eq != std::string_view::npos);
            !s.ok()) {
          return std::move(s).err();
        }
      }
    } else if (a == "-f") {
      cfg.foreground = true;
    } else if (a == "-d") {
      if (status s = apply_option(cfg, "d", "", false); !s.ok()) {
        return std::move(s).err();
      }
    } else if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string_view body(a);
      body.remove_prefix(2);
      size_t eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      if (eq != std::string_view::npos) {
        if (status s = apply_option(cfg, name, body.substr(eq + 1), true); !s.ok()) {
          return std::move(s).err();
        }
        continue;
      }
      if (takes_value(name)) {
        result<std::string> v = need_next(a.c_str());
        if (!v.ok()) {
          return std::move(v).err();
        }
        if (status s = apply_option(cfg, name, *v, true); !s.ok()) {
          return std::move(s).err();
        }
      } else if (status s = apply_option(cfg, name, "", false); !s.ok()) {
        return std::move(s).err();
      }
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() == 2) {
    std::string bucket;
    std::string prefix;
    if (status s = parse_oss_url(positional[0], &bucket, &prefix); !s.ok()) {
      return std::move(s).err();
    }
    cfg.bucket = bucket;
    if (!prefix.empty()) {
      cfg.prefix = prefix;
    }
    cfg.mountpoint = positional[1];
  } else if (positional.size() == 1 && !cfg.bucket.empty()) {
    cfg.mountpoint = positional[0];  // ossfs 2.0 style: bucket from oss_bucket
  } else {
    return make_error(EINVAL, "usage: ossuring mount oss://bucket[/prefix] MOUNTPOINT [options]");
  }
  if (!cfg.prefix.empty()) {
    while (!cfg.prefix.empty() && cfg.prefix.front() == '/') {
      cfg.prefix.erase(0, 1);
    }
    if (!cfg.prefix.empty() && cfg.prefix.back() != '/') {
      cfg.prefix += '/';
    }
  }
  if (cfg.endpoint.empty()) {
    return make_error(EINVAL, "no endpoint: pass --endpoint (or oss_endpoint in a config file)");
  }
  if (cfg.http != "auto" && cfg.http != "1.1" && cfg.http != "2") {
    return make_error(EINVAL, "--http wants auto, 1.1 or 2");
  }
  if (cfg.prefetch != "auto" && cfg.prefetch != "off" && cfg.prefetch != "siblings" &&
      cfg.prefetch != "dir") {
    return make_error(EINVAL, "--prefetch wants auto, off, siblings or dir");
  }
  if (cfg.sign_version != "v1" && cfg.sign_version != "v4") {
    return make_error(EINVAL, "--sign-version wants v1 or v4");
  }
  if (!cfg.mode.empty() && cfg.mode != "index" && cfg.mode != "lazy") {
    return make_error(EINVAL, "--mode wants index or lazy");
  }
  if (cfg.open_mode != "auto" && cfg.open_mode != "passthrough" && cfg.open_mode != "noopen" &&
      cfg.open_mode != "read") {
    return make_error(EINVAL, "--open-mode wants auto, passthrough, noopen or read");
  }
  if (cfg.open_mode == "auto") {
    // Measured (docs/benchmarks.md "Blob cache at scale", larger than memory): blobs on disk
    // are read fastest by the kernel itself (passthrough: epoch 2 in 2.7 s against 3.6 s,
    // daemon CPU 0.4 s against 1.7 s), blobs in memory through the page cache noopen keeps
    // (warm open+read 13 us against 51 us). Passthrough needs root to register backing files,
    // and a supervised mount keeps no handles, so both of those stay with noopen.
    const bool passthrough = !cfg.cache_dir.empty() && !cfg.supervise && ::geteuid() == 0;
    cfg.open_mode = passthrough ? "passthrough" : "noopen";
  }
  if (cfg.mode.empty()) {
    cfg.mode = cfg.read_only ? "index" : "lazy";
  }
  if (cfg.read_only && !cfg.read_only_set && (helper_rw || cfg.ossfs_style)) {
    cfg.notes.push_back(
        std::string("read-only mount: ") +
        (helper_rw ? "the rw that mount(8) adds to every mount is not a request to write"
                   : "unlike ossfs 2.0, ossuring mounts read-only unless writes are asked for") +
        "; to write, add " +
        (form == mount_form::helper ? "writable to the -o options (fstab: the options column)"
                                    : "--rw (or writable in -o lists and config files)") +
        " (lazy mode)");
  }
  if (!cfg.read_only && cfg.mode == "index") {
    return make_error(EINVAL,
                      "rw needs --mode lazy: index mode answers from a listing taken at mount and "
                      "is read-only");
  }
  if (!cfg.shared_index.empty() && cfg.mode != "index") {
    return make_error(EINVAL, "--shared-index needs --mode index (it shares an index image)");
  }
  if (cfg.part_size < (100u << 10) || cfg.part_size > (5ull << 30)) {
    return make_error(EINVAL, "--part-size must be between 100K and 5G (OSS's part limits)");
  }
  if (cfg.supervise) {
    // A restarted daemon must find every inode number the kernel holds: index mode's are
    // stable, noopen leaves no file handles to lose, and one connection fd is all it adopts.
    if (cfg.mode != "index" || !cfg.read_only) {
      return make_error(EINVAL, "--supervise needs a read-only --mode index mount");
    }
    if (cfg.open_mode != "noopen") {
      return make_error(EINVAL, "--supervise needs --open-mode noopen");
    }
    if (cfg.fuse_uring) {
      return make_error(EINVAL, "--supervise does not work with --fuse-uring");
    }
  }
  if (cfg.poll_us > 0 && cfg.cpus.empty()) {
    // Spinning pays only on a CPU nobody else needs; an unpinned reactor would burn whichever
    // CPU the scheduler picked, often the caller's.
    return make_error(EINVAL, "--poll-us needs --cpus (reactors pinned to dedicated CPUs)");
  }
  if (cfg.copy_threshold == 0 || cfg.copy_threshold > (1ull << 30)) {
    return make_error(EINVAL, "--copy-threshold must be between 1 and 1G (CopyObject's limit)");
  }
  if (status s = check_credentials(cfg); !s.ok()) {
    return std::move(s).err();
  }
  return cfg;
}

std::string options_help() {
  return options_help_grouped(false);
}

}  // namespace ossuring::cli
