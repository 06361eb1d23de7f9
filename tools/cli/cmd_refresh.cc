// `ossuring refresh MOUNTPOINT`: lists an index-mode mount's bucket prefix again now and installs
// the new index under the live mount (docs/semantics.md "Index refresh").
#include <cstdio>
#include <string>

#include "tools/cli/commands.hh"
#include "tools/cli/control.hh"
#include "tools/cli/mountinfo.hh"

namespace ossuring::cli {

int cmd_refresh(const args& given) {
  args a = given;
  result<std::string> socket = take_control_socket(a);
  if (!socket.ok()) {
    std::fprintf(stderr, "ossuring refresh: %s\n", socket.err().message.c_str());
    return 2;
  }
  std::string mountpoint;
  for (const std::string& s : a) {
    if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "ossuring refresh: unknown option %s\n", s.c_str());
      return 2;
    }
    if (!mountpoint.empty()) {
      std::fprintf(stderr, "ossuring refresh: one mount point only\n");
      return 2;
    }
    mountpoint = s;
  }
  if (mountpoint.empty()) {
    std::fprintf(stderr, "usage: ossuring refresh MOUNTPOINT\n");
    return 2;
  }
  std::string answer;
  status s = control_request(socket->empty() ? control_socket_path(mountpoint) : *socket, "refresh",
                             [&](const std::string& line) { answer += line; });
  if (!s.ok()) {
    std::fprintf(stderr, "ossuring refresh: %s\n",
                 explain_unreachable(mountpoint, s.err().message).c_str());
    return 1;
  }
  // The daemon answers one JSON line: {"objects":N,...} or {"error":"..."}.
  std::printf("%s\n", answer.c_str());
  return answer.find("\"error\"") == std::string::npos ? 0 : 1;
}

}  // namespace ossuring::cli
