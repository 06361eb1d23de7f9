// Where a mount's daemon writes its log: --log-dir, a default folder for a backgrounded daemon
// (never the terminal or pipe of the command that started it), or stderr in the foreground and
// under systemd's journal.
#pragma once

#include <string>

#include "core/result.hh"

namespace ossuring::cli {

// The folder a backgrounded daemon logs to when --log-dir is not given: /var/log/ossuring for
// root, else $XDG_STATE_HOME/ossuring, else $HOME/.local/state/ossuring ("" when none is known).
std::string default_log_dir(bool root, const char* xdg_state_home, const char* home);

// The file name of `mountpoint`'s log in its folder: ossuring-mnt-data.log for /mnt/data (one
// file per mount, so mounts sharing the folder never rotate each other's files).
std::string log_file_name(const std::string& mountpoint);

// Whether stderr is systemd's journal stream (JOURNAL_STREAM names its device and inode), as
// for a service's ExecStart: the daemon then keeps logging there.
bool stderr_is_journal();

// Creates `dir` and its missing parents (mode 0750 for what it creates).
status make_dirs(const std::string& dir);

}  // namespace ossuring::cli
