// staged_file: a file being written (a local copy uploaded when closed) and the part stream that
// may upload a large one while it is still written. The writer owns their contents; metadata
// reads them to show sizes and names that OSS does not have yet.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hh"
#include "core/sync.hh"
#include "http/oss/object_client.hh"

namespace ossuring::fs {

// A multipart upload begun while a large file is still being written in order
// (fs/data/part_stream.cc): each part is sent as soon as the writer has passed it, so that the
// close only sends the rest. Used at the next upload only if the file is still `in_order` (any
// other change may have touched bytes of a part already sent).
struct part_stream {
  std::string key;  // the key it was begun for (a rename makes it unusable)
  uint64_t part = 0;
  std::string id;         // upload id, empty until InitiateMultipartUpload answered
  bool starting = false;  // InitiateMultipartUpload in flight
  unsigned sent = 0;      // parts [0, sent) uploaded or being uploaded
  unsigned in_flight = 0;
  std::vector<oss::part_etag> etags;
  std::optional<error> failed;
  std::shared_ptr<oneshot_event> idle;  // set when nothing is in flight any more
};

// One per inode being written, shared by its write handles.
struct staged_file {
  staged_file() = default;
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;
  ~staged_file() {
    if (fd >= 0) {
      ::close(fd);
    }
  }

  std::string key;
  int fd = -1;
  uint64_t size = 0;
  uint64_t version = 0;   // bumped by every change
  uint64_t uploaded = 0;  // the version OSS has (0: never uploaded)
  unsigned handles = 0;
  bool uploading = false;
  bool in_oss = false;    // the key exists in OSS (staged from it, or uploaded since)
  bool unlinked = false;  // removed while open: never uploaded again
  std::shared_ptr<oneshot_event> upload_done;  // set when the running upload ends
  bool in_order = true;  // every write so far appended at the end of an empty start
  std::shared_ptr<part_stream> stream;
};

}  // namespace ossuring::fs
