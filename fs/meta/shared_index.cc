// shared_index: reading, validating and publishing the index image shared through the bucket,
// and the lease (a create-only PutObject) that lets one mount at a time list again.
#include "fs/meta/shared_index.hh"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "core/log.hh"
#include "core/sync.hh"
#include "http/oss/retry.hh"

namespace ossuring::fs {

namespace {

std::string resolve_key(std::string_view key, std::string_view bucket) {
  constexpr std::string_view scheme = "oss://";
  if (!key.starts_with(scheme)) {
    return std::string(key);
  }
  key.remove_prefix(scheme.size());
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos || key.substr(0, slash) != bucket) {
    return {};  // another bucket: this mount's client cannot reach it
  }
  return std::string(key.substr(slash + 1));
}

int64_t wall_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

}  // namespace

shared_index::shared_index(oss::object_client& client, const fs_options& opts, abort_source& abort)
    : _client(client), _opts(opts), _abort(abort), _sleep(oss::reactor_sleep()) {
  _key = resolve_key(opts.shared_index, opts.bucket);
  if (_key.empty()) {
    log_error("shared_index_refused",
              {{"key", opts.shared_index}, {"reason", "not a key of bucket " + opts.bucket}});
  } else if (_key.starts_with(opts.prefix)) {
    // Its ETag changes at each publish: every refresh then sees a changed listing.
    log_warn("shared_index_inside_prefix", {{"key", _key}, {"prefix", opts.prefix}});
  }
}

task<void> shared_index::fetch_part(std::span<std::byte> dest, uint64_t offset, part_state& st) {
  oss::get_request req;
  req.key = _key;
  req.offset = offset;
  req.length = dest.size();
  req.if_match = st.etag;  // a publish in between fails the read instead of mixing two images
  result<oss::get_result> r = co_await _client.get_object(req, dest, &_abort);
  if (!r) {
    if (!st.failure) {
      st.failure = std::move(r).err();
    }
    co_return;
  }
  if (r->bytes != dest.size() && !st.failure) {
    st.failure = make_error(EIO, "short read of the image");
  }
}

task<result<index>> shared_index::fetch() {
  // The first ranged GET brings the size and the ETag; the rest is read in parallel, pinned to
  // that ETag.
  std::vector<std::byte> buf(part_size);
  oss::get_request first;
  first.key = _key;
  first.length = part_size;
  result<oss::get_result> head = co_await _client.get_object(first, buf, &_abort);
  if (!head) {
    error e = std::move(head).err();
    if (e.code != ENOENT) {
      log_warn("shared_index_unreadable", {{"key", _key}, {"error", e.message}});
    }
    co_return e;
  }
  const uint64_t size = head->object_size;
  std::string why;
  part_state st;
  st.etag = head->etag;
  if (size > max_image_size) {
    why = "image of " + std::to_string(size) + " bytes, above the limit";
  } else if (head->bytes != std::min<uint64_t>(size, part_size)) {
    why = "short first part";
  } else {
    buf.resize(size);
    task_group parts;
    for (uint64_t off = part_size; off < size && !st.failure; off += part_size) {
      if (parts.pending() >= parts_in_flight) {
        co_await parts.wait();
      }
      std::span<std::byte> dest(buf.data() + off, std::min<uint64_t>(part_size, size - off));
      parts.spawn(fetch_part(dest, off, st));
    }
    co_await parts.wait();
    if (st.failure) {
      // Not the image's fault (a publish in between, the network): read it again next time.
      log_warn("shared_index_unreadable", {{"key", _key}, {"error", st.failure->message}});
      co_return std::move(*st.failure);
    }
  }
  if (why.empty()) {
    result<index> idx = index::deserialize(buf, _opts.bucket, _opts.prefix);
    if (idx) {
      _etag = head->etag;
      log_info("shared_index_read", {{"key", _key},
                                     {"etag", _etag},
                                     {"bytes", std::to_string(size)},
                                     {"objects", std::to_string(idx->stats().objects)}});
      co_return idx;
    }
    why = idx.err().message;
  }
  _refused_etag = head->etag;
  log_warn("shared_index_refused", {{"key", _key}, {"etag", head->etag}, {"reason", why}});
  co_return make_error(EINVAL, "shared index " + _key + " refused: " + why);
}

int64_t shared_index::epoch_now() const {
  const int64_t interval = std::max<int64_t>(_opts.shared_index_interval.count(), 1);
  return wall_now() / interval;
}

std::string shared_index::lease_key(int64_t epoch) const {
  return _key + ".lease." + std::to_string(epoch);
}

task<result<bool>> shared_index::claim() {
  const int64_t epoch = epoch_now();
  if (epoch == _lost_epoch) {
    co_return false;  // known to be another mount's: spare the PUT
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  // Who holds it, for whoever looks at the bucket.
  const std::string body = std::string(host) + " pid " + std::to_string(::getpid()) + " at " +
                           std::to_string(wall_now()) + "\n";
  oss::put_condition cond;
  cond.forbid_overwrite = true;
  const std::string key = lease_key(epoch);
  result<oss::put_result> r =
      co_await _client.put_object_if(key, std::as_bytes(std::span(body)), cond, &_abort);
  if (r) {
    _lease_epoch = epoch;
    log_info("shared_index_lease_won", {{"key", key}});
    co_return true;
  }
  if (r.err().code == EEXIST || r.err().code == ESTALE) {
    _lost_epoch = epoch;
    co_return false;  // another mount lists in this interval
  }
  log_warn("shared_index_lease_failed", {{"key", key}, {"error", r.err().message}});
  co_return std::move(r).err();
}

task<std::optional<index>> shared_index::wait_for_image() {
  const auto deadline = std::chrono::steady_clock::now() + _opts.shared_index_wait;
  std::chrono::milliseconds pause(200);
  while (std::chrono::steady_clock::now() < deadline) {
    const bool slept = co_await _sleep(pause, &_abort);
    if (!slept) {
      co_return std::nullopt;  // closing
    }
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::seconds(2));
    result<oss::object_info> h = co_await _client.head_object(_key, &_abort);
    if (!h || h->etag == _refused_etag) {
      continue;  // not published yet
    }
    result<index> img = co_await fetch();
    if (img) {
      co_return std::move(*img);
    }
  }
  log_warn("shared_index_wait_expired", {{"key", _key}});
  co_return std::nullopt;
}

task<result<shared_index::decision>> shared_index::start() {
  decision d;
  result<index> img = co_await fetch();
  if (img) {
    d.what = action::use_image;
    d.image = std::move(*img);
    co_return d;
  }
  result<bool> won = co_await claim();
  if (!won) {
    d.what = action::list;  // cannot write the lease: list as a mount without the image would
    co_return d;
  }
  if (*won) {
    d.what = action::list_and_publish;
    co_return d;
  }
  std::optional<index> waited = co_await wait_for_image();
  if (_abort.aborted()) {
    co_return make_error(ECANCELED, "unmounting");
  }
  if (waited) {
    d.what = action::use_image;
    d.image = std::move(waited);
  }
  co_return d;
}

task<result<shared_index::decision>> shared_index::refresh(int64_t held_build_time) {
  decision d;
  result<oss::object_info> h = co_await _client.head_object(_key, &_abort);
  if (h && h->etag != _etag && h->etag != _refused_etag) {
    // Another mount published: one GET (or a few) instead of a listing.
    result<index> img = co_await fetch();
    if (img) {
      d.what = action::use_image;
      d.image = std::move(*img);
      co_return d;
    }
  }
  if (!h && h.err().code != ENOENT) {
    co_return std::move(h).err();  // OSS unreachable: keep serving, try at the next refresh
  }
  const int64_t age = wall_now() - held_build_time;
  if (h && h->etag == _etag && age >= 0 &&
      age < std::max<int64_t>(_opts.shared_index_interval.count() / 2, 1)) {
    d.what = action::keep;
    co_return d;
  }
  // Old, absent or refused: one mount per interval lists again.
  result<bool> won = co_await claim();
  if (!won) {
    d.what = action::list;
  } else {
    d.what = *won ? action::list_and_publish : action::keep;
  }
  co_return d;
}

task<void> shared_index::publish(const index& idx) {
  const std::vector<std::byte> img = idx.serialize(_opts.bucket, _opts.prefix);
  result<oss::put_result> r = co_await _client.put_object(_key, img, &_abort);
  if (!r) {
    log_warn("shared_index_publish_failed", {{"key", _key}, {"error", r.err().message}});
    co_return;
  }
  _etag = r->etag;
  log_info("shared_index_published", {{"key", _key},
                                      {"etag", _etag},
                                      {"bytes", std::to_string(img.size())},
                                      {"objects", std::to_string(idx.stats().objects)}});
  // The lease before this one is of no use any more: a bucket keeps at most two.
  const std::string old = lease_key(_lease_epoch - 1);
  status removed = co_await _client.delete_object(old, &_abort);
  if (!removed) {
    log_warn("shared_index_lease_not_removed", {{"key", old}, {"error", removed.err().message}});
  }
}

}  // namespace ossuring::fs
