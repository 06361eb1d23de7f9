// errors: the errno a FUSE reply carries for an OSS or transport failure.
//
// OSS errors (an HTTP status or an OSS code) are mapped by oss::errno_for_oss_error
// (http/oss/xml.hh), the one table, which the object client already applied to `error::code`;
// applying it again here covers errors built elsewhere (a body check, a test double). This
// adds the transport side: a refused or reset connection means nothing to a program reading a
// file. Retries (throttling, timeouts) happen below, in the client: what reaches here has
// exhausted them.
#pragma once

#include <cerrno>

#include "core/result.hh"
#include "http/oss/xml.hh"

namespace ossuring::fs {

inline int errno_for(const error& e) {
  const bool success_status = e.http_status >= 200 && e.http_status < 300;
  if (!e.oss_code.empty() || (e.http_status != 0 && !success_status)) {
    return oss::errno_for_oss_error(e.http_status, e.oss_code);
  }
  // No OSS verdict: the transport failed, or a success status came with a body that failed
  // its checks.
  switch (e.code) {
    // Transport failures mean nothing to a program reading a file: they are I/O errors (the log
    // line keeps the real cause).
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EPIPE:
    case EPROTO:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EBADMSG:
    case EMSGSIZE:  // an answer over its in-memory limit (http::exchange::max_body)
    case EAGAIN:    // an HTTP/2 stream refused on every attempt: a blocking call never says so
      return EIO;
    default:
      return e.code > 0 ? e.code : EIO;
  }
}

// The error with its errno normalised (what the FUSE adapter replies).
inline error to_fs_error(error e) {
  e.code = errno_for(e);
  return e;
}

}  // namespace ossuring::fs
