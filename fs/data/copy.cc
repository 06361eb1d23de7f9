// writer, server-side copies for rename: one CopyObject up to copy_threshold (OSS refuses
// sources above 1 GB), a multipart upload of UploadPartCopy ranges above it.
#include <algorithm>

#include "core/log.hh"
#include "fs/data/staging.hh"
#include "fs/data/writer.hh"

namespace ossuring::fs {

using namespace detail;

task<result<oss::put_result>> writer::copy_for_rename(const std::string& from,
                                                      const std::string& to, uint64_t& size) {
  std::optional<error> refused;
  if (size <= _ctx.opts.copy_threshold) {
    auto copied = co_await _ctx.client.copy_object(from, to);
    if (copied || copied.err().http_status != 400 || copied.err().oss_code != "InvalidArgument") {
      co_return copied;
    }
    // The cached size may be stale (the object grew past the limit): ask OSS for the real one.
    refused = std::move(copied).err();
  }
  auto source = co_await _ctx.client.get_object_meta(from);
  if (!source) {
    co_return std::move(source).err();
  }
  size = source->size;  // the copy's size, whatever was cached
  if (source->size <= _ctx.opts.copy_threshold) {
    if (refused) {
      co_return std::move(*refused);  // refused for another reason than its size
    }
    co_return co_await _ctx.client.copy_object(from, to);
  }
  auto copied = co_await copy_in_parts(from, to, *source);
  if (!copied && (copied.err().http_status == 0 || copied.err().http_status >= 500)) {
    // As for uploads: Initiate and Complete are POSTs the client does not retry, so a lost
    // answer costs one more attempt with a new upload id.
    log_warn(
        "multipart_retry",
        {{"key", to}, {"error", copied.err().message}, {"request_id", copied.err().request_id}});
    copied = co_await copy_in_parts(from, to, *source);
  }
  co_return copied;
}

task<result<oss::put_result>> writer::copy_in_parts(const std::string& from, const std::string& to,
                                                    const oss::object_info& source) {
  const uint64_t size = source.size;
  const uint64_t part =
      std::max({_ctx.opts.part_size, min_part_size, (size + max_parts - 1) / max_parts});
  const unsigned parts = static_cast<unsigned>((size + part - 1) / part);
  auto id = co_await _ctx.client.initiate_multipart(to);
  if (!id) {
    co_return std::move(id).err();
  }
  // Every range names the source's ETag: an object replaced during the copy fails it (412)
  // instead of yielding a mix of two versions.
  auto send = [&](unsigned i, std::vector<std::byte>&) -> task<result<oss::part_etag>> {
    uint64_t first = uint64_t{i} * part;
    uint64_t last = std::min(size, first + part) - 1;
    co_return co_await _ctx.client.upload_part_copy(to, *id, i + 1, from, source.etag, first, last);
  };
  co_return co_await complete_parts(to, *id, parts, 0, {}, send);
}

}  // namespace ossuring::fs
