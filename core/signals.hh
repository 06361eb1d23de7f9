// Stop signals taken by a signalfd, for daemons whose loop reads it (ossuring mount, ossemu).
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

namespace ossuring {

// Blocks SIGINT and SIGTERM (in this thread and the threads it creates later) and returns a
// signalfd that reports them, or -1; ignores SIGPIPE, which sockets report as EPIPE instead.
inline int stop_signal_fd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return ::signalfd(-1, &mask, SFD_CLOEXEC);
}

}  // namespace ossuring
