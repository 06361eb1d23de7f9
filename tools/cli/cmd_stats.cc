// `ossuring stats MOUNTPOINT [--json|--all]`: what a running mount has done (requests by API,
// cache hits and fill, bytes, latency percentiles, errors), read over its control socket: a
// report for people (stats_format.hh), the daemon's JSON for machines, or every counter.
#include <simdjson.h>

#include <cstdio>
#include <string>

#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"
#include "tools/cli/mountinfo.hh"
#include "tools/cli/stats_format.hh"

namespace ossuring::cli {

namespace {

// Prints a JSON document as indented "name: value" lines for people.
void print_element(simdjson::dom::element e, const std::string& indent, const std::string& name) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      if (!name.empty()) {
        std::printf("%s%s:\n", indent.c_str(), name.c_str());
      }
      std::string inner = name.empty() ? indent : indent + "  ";
      for (auto field : e.get_object()) {
        print_element(field.value, inner, std::string(field.key));
      }
      break;
    }
    case element_type::ARRAY: {
      std::printf("%s%s:\n", indent.c_str(), name.c_str());
      size_t i = 0;
      for (auto item : e.get_array()) {
        print_element(item, indent + "  ", "[" + std::to_string(i++) + "]");
      }
      break;
    }
    default:
      std::printf("%s%s: %s\n", indent.c_str(), name.c_str(), simdjson::to_string(e).c_str());
  }
}

}  // namespace

int cmd_stats(const args& given) {
  args a = given;
  result<std::string> socket = take_control_socket(a);
  if (!socket.ok()) {
    std::fprintf(stderr, "ossuring stats: %s\n", socket.err().message.c_str());
    return 2;
  }
  std::string mountpoint;
  bool json = false;
  bool all = false;
  for (const std::string& s : a) {
    if (s == "--json") {
      json = true;
    } else if (s == "--all") {
      all = true;
    } else if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "ossuring stats: unknown option %s\n", s.c_str());
      return 2;
    } else {
      mountpoint = s;
    }
  }
  if (mountpoint.empty()) {
    std::fprintf(stderr, "usage: ossuring stats MOUNTPOINT [--json|--all]\n");
    return 2;
  }
  std::string doc;
  status s = control_request(socket->empty() ? control_socket_path(mountpoint) : *socket, "stats",
                             [&](const std::string& line) { doc += line; });
  if (!s.ok()) {
    std::fprintf(stderr, "ossuring stats: %s\n",
                 explain_unreachable(mountpoint, s.err().message).c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", doc.c_str());
    return 0;
  }
  if (!all) {
    std::string error;
    std::string report = format_stats(doc, &error);
    if (report.empty()) {
      std::fprintf(stderr, "ossuring stats: %s\n", error.c_str());
      return 1;
    }
    std::fputs(report.c_str(), stdout);
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(doc).get(root) != simdjson::SUCCESS) {
    std::fprintf(stderr, "ossuring stats: the daemon sent malformed JSON\n");
    return 1;
  }
  print_element(root, "", "");
  return 0;
}

}  // namespace ossuring::cli
