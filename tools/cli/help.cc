// Help texts: the commands' usage, and the options' groups rendered from the option table
// (tools/cli/config_options.cc), so that help, the table and docs/configuration.md agree.
#include "tools/cli/help.hh"

#include "tools/cli/config.hh"
#include "tools/cli/detail/config_options.hh"

namespace ossuring::cli {

namespace {

using detail::group;
using detail::kind;
using detail::option_def;

struct command_text {
  std::string_view name;
  std::string_view summary;  // one line for `ossuring --help`
  std::string_view usage;    // the usage lines
  std::string_view body;     // what it does, its own options
};

const command_text texts[] = {
    {"mount", "mount a bucket (or a prefix) on a folder",
     "ossuring mount oss://BUCKET[/PREFIX] MOUNTPOINT [options]\n"
     "       ossuring oss://BUCKET[/PREFIX] MOUNTPOINT -o OPTIONS   (the form mount.fuse3 runs)\n",
     "Mounts read-only in index mode (the prefix is listed once at mount; stat, ls and find then\n"
     "cost no request) unless writes are asked for with --rw, -o rw on this command line, or\n"
     "writable in -o lists, fstab and config files (lazy mode). mount(8) and mount.fuse3 add rw\n"
     "to every mount, so in fstab and `mount -t fuse.ossuring` only writable asks for writes.\n"
     "Returns once the mount is ready; the daemon serves it until `ossuring umount MOUNTPOINT`.\n"
     "\n"
     "Options are --name=value, --name value, -o name=value,name2 lists or config file lines;\n"
     "later options win. Our names and ossfs 2.0's are both accepted.\n"
     "  -c, --config FILE\n"
     "      read options from FILE: one --name=value per line, # comments (ossfs 2.0's format);\n"
     "      mode 600 when it holds a secret\n"
     "  -o LIST\n"
     "      comma-separated name[=value] options (fstab's options column)\n"
     "  -f\n"
     "      stay in the foreground (same as --foreground)\n"
     "  -h, --help\n"
     "      this help\n"},
    {"umount", "unmount (also after the daemon died)",
     "ossuring umount MOUNTPOINT [--lazy] [--wait SECONDS]\n",
     "Unmounts an ossuring mount, also one whose daemon has exited (\"Transport endpoint is not\n"
     "connected\"), then waits for the daemon to exit: its uploads and saved index are written\n"
     "when this returns.\n"
     "  --lazy, -l, -z\n"
     "      detach now even with files open; the mount ends when the last one is closed (no\n"
     "      wait: the daemon serves the open files until then)\n"
     "  --wait SECONDS\n"
     "      how long to wait for the daemon (default 60; 0: return once unmounted); past it\n"
     "      the daemon goes on in the background and a line says so\n"},
    {"stats", "what a running mount has done",
     "ossuring stats MOUNTPOINT [--json|--all] [--control-socket PATH]\n",
     "A running mount's report, read from its daemon's control socket (as the user who mounted,\n"
     "or root): FUSE requests, cache fill against its budget and hit rate, read-ahead, index,\n"
     "requests per OSS API with latency percentiles, and errors, in human units.\n"
     "  --json\n"
     "      print the daemon's JSON document (for programs; fields are only ever added)\n"
     "  --all\n"
     "      print every counter of that document, one a line\n"
     "  --control-socket PATH\n"
     "      the socket of a mount started with --control-socket PATH\n"},
    {"warmup", "fetch files into the cache ahead of use",
     "ossuring warmup MOUNTPOINT[/DIR] [PATH...] [--files LIST] [--no-progress|--json]\n"
     "               [--control-socket PATH]\n",
     "Has a running mount fetch files into its blob cache: the PATHs given (files or folders,\n"
     "relative to the first argument or absolute), else everything below the first argument,\n"
     "which may be the mount point or a folder inside the mount.\n"
     "  --files LIST\n"
     "      also warm the paths listed in the file LIST, one a line (- for stdin)\n"
     "  --no-progress\n"
     "      no progress line, only the summary at the end (off a terminal there is no progress\n"
     "      line anyway)\n"
     "  --json\n"
     "      the daemon's JSON progress lines on stdout, the last with \"done\":true\n"
     "  --control-socket PATH\n"
     "      the socket of a mount started with --control-socket PATH\n"},
    {"refresh", "list an index-mode mount's bucket again now",
     "ossuring refresh MOUNTPOINT [--control-socket PATH]\n",
     "Index mode: lists the prefix again and installs the new index under the live mount; prints\n"
     "the new index's size as JSON.\n"
     "  --control-socket PATH\n"
     "      the socket of a mount started with --control-socket PATH\n"},
    {"ls", "list objects", "ossuring ls oss://BUCKET[/PREFIX] [-r] [connection options]\n",
     "Lists the objects and folders under PREFIX (size, time, key), through the same client and\n"
     "credentials a mount uses.\n"
     "  -r, --recursive\n"
     "      every key below PREFIX, not only one level\n"},
    {"stat", "show one object's metadata", "ossuring stat oss://BUCKET/KEY [connection options]\n",
     "Prints an object's size, ETag, time and type (one HEAD).\n"},
    {"get", "download an object", "ossuring get oss://BUCKET/KEY [FILE] [connection options]\n",
     "Downloads an object to FILE (default, or -: stdout), in ranged GETs.\n"},
    {"put", "upload a file", "ossuring put FILE oss://BUCKET/KEY [connection options]\n",
     "Uploads FILE as an object: one PutObject, or a multipart upload above 64 MiB.\n"},
    {"help", "help of a command", "ossuring help [COMMAND]\n",
     "Prints the help of COMMAND (also `ossuring COMMAND --help`), or the list of commands.\n"},
    {"version", "print the version", "ossuring version\n", ""},
};

// The option groups in the order help, the manual page and docs/configuration.md show them.
constexpr group group_order[] = {group::connection, group::credentials, group::metadata,
                                 group::data,       group::writes,      group::fuse,
                                 group::logging};

const command_text* find_text(std::string_view name) {
  for (const command_text& t : texts) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

std::string_view placeholder(kind k) {
  switch (k) {
    case kind::str:
      return " VALUE";
    case kind::flag:
      return "";
    case kind::uint:
      return " N";
    case kind::size:
      return " SIZE";
    case kind::seconds:
      return " SECONDS";
    case kind::octal:
      return " OCTAL";
  }
  return "";
}

std::string option_entry(const option_def& d) {
  std::string head = "  ";
  head += d.names[0].size() == 1 ? "-" : "--";
  head += d.names[0];
  head += placeholder(d.type);
  std::string ossfs;
  std::string also;
  for (size_t i = 1; i < d.names.size(); ++i) {
    std::string& to = detail::is_ossfs2_name(d.names[i]) ? ossfs : also;
    to += (to.empty() ? "" : ", ") + std::string(d.names[i]);
  }
  if (detail::is_ossfs2_name(d.names[0])) {
    ossfs = std::string(d.names[0]) + (ossfs.empty() ? "" : ", " + ossfs);
  }
  std::string tail;
  if (!d.def.empty()) {
    tail += "default: " + std::string(d.def);
  }
  if (!ossfs.empty()) {
    tail += (tail.empty() ? "" : "; ") + std::string("ossfs 2.0: ") + ossfs;
  }
  if (!also.empty()) {
    tail += (tail.empty() ? "" : "; ") + std::string("also: ") + also;
  }
  std::string out = head + "\n      " + std::string(d.help) + "\n";
  if (!tail.empty()) {
    out += "      (" + tail + ")\n";
  }
  return out;
}

}  // namespace

const std::vector<std::string_view>& command_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const command_text& t : texts) {
      v.push_back(t.name);
    }
    return v;
  }();
  return names;
}

std::string options_help_grouped(bool connection_only) {
  std::string out;
  for (group g : group_order) {
    if (connection_only && g != group::connection && g != group::credentials) {
      continue;
    }
    out += "\n" + std::string(detail::group_title(g)) + ":\n";
    for (const option_def& d : detail::option_table()) {
      if (d.section == g) {
        out += option_entry(d);
      }
    }
  }
  if (!connection_only) {
    out +=
        "\nAccepted for mount(8) compatibility and ignored: auto, noauto, user, nouser, exec,\n"
        "noexec, suid, nosuid, dev, nodev, _netdev, nofail, defaults.\n";
  }
  return out;
}

std::string command_help(std::string_view command) {
  const command_text* t = find_text(command);
  if (!t) {
    return "";
  }
  std::string out = "usage: " + std::string(t->usage);
  if (!t->body.empty()) {
    out += "\n" + std::string(t->body);
  }
  if (command == "mount") {
    out += options_help_grouped(false);
  } else if (command == "ls" || command == "stat" || command == "get" || command == "put") {
    out +=
        "\nConnection options: as `ossuring mount` takes them (--name=value, --name value,\n"
        "-o LIST, -c FILE):\n" +
        options_help_grouped(true);
  }
  return out;
}

namespace {

// Text as roff: backslashes and hyphens escaped, a line starting with a control character
// protected.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) {
      out += "\\&";
    }
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

}  // namespace

std::string man_page() {
  std::string out =
      ".TH OSSURING 1 \"\" \"ossuring\" \"User Commands\"\n"
      ".SH NAME\n"
      "ossuring \\- mount an Alibaba Cloud OSS bucket as a local file system\n"
      ".SH SYNOPSIS\n";
  for (const command_text& t : texts) {
    out += ".nf\n" + roff(t.usage) + ".fi\n";
  }
  out += ".SH COMMANDS\n";
  for (const command_text& t : texts) {
    out += ".TP\n.B " + roff(t.name) + "\n" + roff(t.summary) + ".\n";
    if (!t.body.empty()) {
      out += ".nf\n" + roff(t.body) + ".fi\n";
    }
  }
  out += ".SH MOUNT OPTIONS\n";
  for (group g : group_order) {
    out += ".SS " + roff(detail::group_title(g)) + "\n";
    for (const option_def& d : detail::option_table()) {
      if (d.section != g) {
        continue;
      }
      std::string entry = option_entry(d);  // "  --name VALUE\n      help\n      (...)\n"
      size_t nl = entry.find('\n');
      std::string head = entry.substr(2, nl - 2);
      std::string body = entry.substr(nl + 1);
      std::string text;
      for (size_t pos = 0; pos < body.size();) {
        size_t end = body.find('\n', pos);
        std::string_view line = std::string_view(body).substr(pos, end - pos);
        while (!line.empty() && line.front() == ' ') {
          line.remove_prefix(1);
        }
        text += (text.empty() ? "" : " ") + std::string(line);
        pos = end == std::string::npos ? body.size() : end + 1;
      }
      out += ".TP\n.B " + roff(head) + "\n" + roff(text) + "\n";
    }
  }
  out +=
      ".SH FILES\n"
      ".TP\n/run/ossuring/\n"
      "control sockets of running mounts (ossuring stats, warmup, refresh)\n"
      ".TP\n/var/log/ossuring/\n"
      "logs of background mounts started by root, one file per mount\n"
      ".SH SEE ALSO\n"
      "fusermount3(1), mount(8), fstab(5)\n";
  return out;
}

std::string main_help() {
  std::string out = "usage: ossuring COMMAND [ARGS]\n\ncommands:\n";
  for (const command_text& t : texts) {
    std::string name(t.name);
    name.resize(10, ' ');
    out += "  " + name + std::string(t.summary) + "\n";
  }
  out +=
      "\n`ossuring help COMMAND` or `ossuring COMMAND --help` shows a command's usage and\n"
      "options; `ossuring help mount` lists every mount option with its default and its\n"
      "ossfs 2.0 spelling.\n";
  return out;
}

}  // namespace ossuring::cli
