// Reading small configuration and credential files whole, judged by what the descriptor shows.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>

#include "core/result.hh"

namespace ossuring {

// Reads the regular file `path` (at most 1 MiB) through one descriptor; `check` judges its
// fstat before a byte is read, so the file judged is the file read (no swap in between).
// `what` names the file in errors. A FIFO or device is refused without blocking on it.
result<std::string> read_small_file(const std::string& what, const std::string& path,
                                    const std::function<status(const struct stat&)>& check);

}  // namespace ossuring
