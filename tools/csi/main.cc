// ossuring-csi: the Kubernetes CSI node plugin. Serves the CSI Identity and Node services on a
// Unix socket and publishes each volume as an `ossuring mount` that runs in its own session, so
// the mounts outlive the plugin (docs/kubernetes.md).
//
//   ossuring-csi [--endpoint unix:///csi/csi.sock] [--node-id NAME] [--driver-name NAME]
//                [--data-dir DIR] [--ossuring PATH] [--log-level LEVEL] [--keeper]
//                [--mounts-outlive-container]
//   ossuring-csi --enter-cgroup=NAME PROGRAM ARGS...   (the plugin's own step before a mount)
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/log.hh"
#include "tools/cli/log_setup.hh"
#include "tools/csi/cgroup_escape.hh"
#include "tools/csi/service.hh"
#include "tools/csi/volumes.hh"

namespace ossuring::csi {
namespace {

struct options {
  std::string endpoint = "unix:///csi/csi.sock";
  std::string node_id;
  std::string driver_name = "csi.ossuring.io";
  std::string data_dir = "/var/lib/ossuring-csi";
  std::string ossuring;
  std::string log_level = "info";
  bool keeper = false;
  bool outlive_container = false;
};

void usage() {
  std::fprintf(stderr,
               "usage: ossuring-csi [--endpoint unix:///csi/csi.sock] [--node-id NAME]\n"
               "                    [--driver-name NAME] [--data-dir DIR] [--ossuring PATH]\n"
               "                    [--log-level LEVEL] [--keeper] [--mounts-outlive-container]\n");
}

bool parse(int argc, char** argv, options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "--keeper" && a != "--mounts-outlive-container" && a != "--help" && a != "-h") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ossuring-csi: %s needs a value\n", a.c_str());
        return false;
      }
      value = argv[++i];
    }
    if (a == "--endpoint") {
      o->endpoint = value;
    } else if (a == "--node-id") {
      o->node_id = value;
    } else if (a == "--driver-name") {
      o->driver_name = value;
    } else if (a == "--data-dir") {
      o->data_dir = value;
    } else if (a == "--ossuring") {
      o->ossuring = value;
    } else if (a == "--log-level") {
      o->log_level = value;
    } else if (a == "--keeper") {
      o->keeper = true;
    } else if (a == "--mounts-outlive-container") {
      o->outlive_container = true;
    } else {
      usage();
      return false;
    }
  }
  return true;
}

// The `ossuring` next to this executable (build/tools/, /usr/bin/), else the one in PATH.
std::string default_ossuring() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.find_last_of('/'));
    std::string sibling = dir + "/ossuring";
    if (::access(sibling.c_str(), X_OK) == 0) {
      return sibling;
    }
  }
  return "/usr/bin/ossuring";
}

// As the container's first process: runs the server as a child and starts it again when it
// dies, and reaps the mount daemons (they are reparented to the first process of a PID
// namespace once their `ossuring mount` returns). A crash of the server therefore restarts
// neither the container nor, with it, the mounts. SIGTERM/SIGINT go to the server; the keeper
// exits after it.
int run_keeper(char** argv) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT}) {
    sigaddset(&set, sig);
  }
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  std::string self = "/proc/self/exe";
  std::vector<char*> args;
  for (char** a = argv; *a != nullptr; ++a) {
    if (std::strcmp(*a, "--keeper") != 0) {
      args.push_back(*a);
    }
  }
  args.push_back(nullptr);
  bool stopping = false;
  unsigned quick_deaths = 0;
  pid_t server = -1;
  for (;;) {
    if (server < 0 && !stopping) {
      server = ::fork();
      if (server == 0) {
        ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
        ::execv(self.c_str(), args.data());
        std::perror("ossuring-csi: exec");
        ::_exit(127);
      }
      log_info("csi_keeper_started_server", {{"pid", std::to_string(server)}});
    }
    siginfo_t info{};
    if (::sigwaitinfo(&set, &info) < 0) {
      continue;
    }
    if (info.si_signo == SIGTERM || info.si_signo == SIGINT) {
      stopping = true;
      if (server > 0) {
        ::kill(server, info.si_signo);
      }
    }
    int st = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &st, WNOHANG)) > 0) {
      if (pid != server) {
        continue;  // a mount daemon that ended: reaped
      }
      server = -1;
      if (stopping) {
        return 0;
      }
      log_warn("csi_server_died", {{"status", std::to_string(st)}});
      // At most one restart a second when it keeps dying at once.
      if (++quick_deaths > 3) {
        ::sleep(1);
      }
    }
    if (stopping && server < 0) {
      return 0;
    }
  }
}

int run(const options& o) {
  std::string socket_path = o.endpoint;
  if (socket_path.starts_with("unix://")) {
    socket_path = socket_path.substr(7);
  }
  if (socket_path.empty() || socket_path[0] != '/') {
    std::fprintf(stderr, "ossuring-csi: --endpoint must be unix:///ABSOLUTE/PATH\n");
    return 2;
  }
  plugin_info info{o.driver_name, OSSURING_VERSION, o.node_id};
  if (info.node_id.empty()) {
    const char* node = std::getenv("NODE_NAME");
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    info.node_id = node && *node ? node : host;
  }
  std::string ossuring = o.ossuring.empty() ? default_ossuring() : o.ossuring;

  // Stop signals are taken by a thread of our own (sigwait), so gRPC's threads never run a
  // handler; blocked before any thread starts, so every thread inherits the mask.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  volume_manager volumes({o.data_dir, ossuring, o.outlive_container});
  size_t live = volumes.rediscover();
  log_info("csi_started", {{"driver", info.driver_name},
                           {"node_id", info.node_id},
                           {"endpoint", socket_path},
                           {"ossuring", ossuring},
                           {"volumes_serving", std::to_string(live)},
                           {"records", std::to_string(volumes.records())}});

  std::string parent = socket_path.substr(0, socket_path.find_last_of('/'));
  if (!parent.empty()) {
    (void)cli::make_dirs(parent);
  }
  // A socket left by an earlier run (killed, or an older version) would make bind fail.
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    ::unlink(socket_path.c_str());
  }
  std::atomic<bool> ready{false};
  identity_service identity(info, ready);
  node_service node(info, volumes);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(&identity);
  builder.RegisterService(&node);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "ossuring-csi: cannot listen on %s\n", socket_path.c_str());
    return 1;
  }
  // Only kubelet (root) and the registrar may talk to the plugin.
  ::chmod(socket_path.c_str(), 0660);
  ready = true;
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("csi_stopping", {{"signal", std::to_string(sig)}});
    // Mounts stay: they belong to the pods, and their daemons do not depend on this process.
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });
  server->Wait();
  stopper.join();
  ::unlink(socket_path.c_str());
  return 0;
}

}  // namespace
}  // namespace ossuring::csi

int main(int argc, char** argv) {
  if (argc > 1 && std::strncmp(argv[1], "--enter-cgroup=", 15) == 0) {
    return ossuring::csi::enter_cgroup_and_exec(argv[1] + 15, argv + 2);
  }
  ossuring::csi::options o;
  if (!ossuring::csi::parse(argc, argv, &o)) {
    return 2;
  }
  ossuring::log_level level;
  if (!ossuring::parse_log_level(o.log_level, &level)) {
    std::fprintf(stderr, "ossuring-csi: bad --log-level %s\n", o.log_level.c_str());
    return 2;
  }
  ossuring::set_log_level(level);
  if (o.keeper) {
    return ossuring::csi::run_keeper(argv);
  }
  return ossuring::csi::run(o);
}
