// errors: the one place where an OSS/transport failure becomes the errno a FUSE reply carries.
//
// The object client already sets `error::code`; this mapping overrides it from the OSS code and
// HTTP status when they are known, so every file-system path answers the same errno for the
// same failure. Retries (throttling, timeouts) happen below, in the client: what reaches here
// has exhausted them.
#pragma once

#include <cerrno>
#include <string_view>

#include "core/result.hh"

namespace ossuring::fs {

inline int errno_for(const error& e) {
  std::string_view c = e.oss_code;
  if (c == "NoSuchKey" || c == "NoSuchBucket") {
    return ENOENT;
  }
  if (c == "AccessDenied" || c == "InvalidAccessKeyId" || c == "SignatureDoesNotMatch" ||
      c == "InvalidObjectState" /* archived, not restored */) {
    return EACCES;
  }
  if (c == "PreconditionFailed") {
    return ESTALE;  // the object changed under an open file: never serve mixed data
  }
  if (c == "InvalidRange") {
    return EIO;
  }
  switch (e.http_status) {
    case 0:
      break;
    case 403:
      return EACCES;
    case 404:
      return ENOENT;
    case 412:
      return ESTALE;
    case 408:
    case 429:
    case 503:
      // Throttled or timed out after the client's retries. Callers of read(2) do not retry on
      // EAGAIN for regular files, so report an I/O error.
      return EIO;
    default:
      if (e.http_status >= 200 && e.http_status < 300) {
        break;  // a success status with a body that failed its checks: the transport cases below
      }
      return e.http_status >= 500 ? EIO : (e.code > 0 ? e.code : EIO);
  }
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
