// blob_fetcher: shared whole-object GETs (If-Match on the known ETag, size and CRC-64 checked)
// into the blob store, within its budget.
#include "fs/data/fetcher.hh"

#include <vector>

#include "fs/errors.hh"
#include "http/oss/crc64.hh"

namespace ossuring::fs {

blob_fetcher::blob_fetcher(fs_context& ctx, blob_store& blobs)
    : _ctx(ctx), _blobs(blobs), _room(std::make_shared<oneshot_event>()) {}

std::shared_ptr<whole_fetch> blob_fetcher::start(const std::string& key, const std::string& etag,
                                                 uint64_t size, bool prefetch) {
  const std::string id = blob_store::blob_id(etag.empty() ? key : etag, size);
  auto f = std::make_shared<whole_fetch>();
  if (!etag.empty()) {
    if (auto b = _blobs.find(id)) {
      ++_ctx.counters.blob_hits;
      f->res.emplace(std::move(b));
      f->done.set();
      return f;
    }
  }
  if (auto it = _fetching.find(id); it != _fetching.end()) {
    // Another open (or prefetch) is already fetching this object: wait for its GET.
    ++_ctx.counters.shared_fetch_waits;
    return it->second;
  }
  // The GET runs in the background so an interrupted opener can stop waiting while other
  // openers (and the cache) still get the object.
  _fetching.emplace(id, f);
  _ctx.background.spawn(run(f, key, etag, size, id, prefetch));
  return f;
}

task<void> blob_fetcher::run(std::shared_ptr<whole_fetch> fe, std::string key, std::string etag,
                             uint64_t size, std::string id, bool prefetch) {
  fe->res.emplace(co_await get_whole(key, etag, size, id, prefetch, &fe->cancel));
  _fetching.erase(id);
  fe->done.set();
}

task<result<std::shared_ptr<blob>>> blob_fetcher::get_whole(const std::string& key,
                                                            const std::string& etag, uint64_t size,
                                                            const std::string& id, bool prefetch,
                                                            abort_source* cancel) {
  // GETs in flight hold budget: past it they wait for room (prefetch already at half of it, so
  // opens a process waits on keep their share), then evict to fit as the bytes will arrive.
  uint64_t limit = _blobs.limit();
  if (_ctx.opts.fetch_buffer_limit > 0 && (limit == 0 || _ctx.opts.fetch_buffer_limit < limit)) {
    limit = _ctx.opts.fetch_buffer_limit;
  }
  const uint64_t cap = prefetch ? limit / 2 : limit;
  while (limit > 0 && _blobs.reserved() > 0 && _blobs.reserved() + size > cap) {
    std::shared_ptr<oneshot_event> room = _room;
    if (!co_await room->wait(cancel)) {
      co_return make_error(ECANCELED, "fetch of " + key + " abandoned");
    }
  }
  _blobs.reserve(size);
  std::vector<std::byte> buf(size);
  result<oss::get_result> r = oss::get_result{};
  if (size > 0) {
    oss::get_request req;
    req.key = key;
    req.if_match = etag;
    ++_ctx.counters.get_requests;
    r = co_await _ctx.client.get_object(req, buf, cancel);
  }
  auto fail = [&](error e) -> result<std::shared_ptr<blob>> {
    _blobs.unreserve(size);
    signal_room();
    return e;
  };
  if (!r) {
    co_return fail(to_fs_error(std::move(r).err()));
  }
  if (size > 0) {
    if (!etag.empty() && !r->etag.empty() && r->etag != etag) {
      co_return fail(make_error(
          ESTALE, "object " + key + " changed (ETag " + r->etag + ", expected " + etag + ")",
          r->request_id));
    }
    if (r->bytes != size || (r->object_size != 0 && r->object_size != size)) {
      co_return fail(make_error(ESTALE, "object " + key + " changed size", r->request_id));
    }
    if (_ctx.opts.verify_crc64 && r->crc64) {
      uint64_t c = oss::crc64_update(oss::crc64_init, buf.data(), buf.size());
      if (c != *r->crc64) {
        co_return fail(make_error(EIO, "CRC-64 mismatch on " + key, r->request_id));
      }
    }
  }
  // Without an ETag the id is the key: an older version cached under it must not be served.
  auto stored = _blobs.store(id, std::move(buf), true, !etag.empty());
  signal_room();
  co_return stored;
}

void blob_fetcher::signal_room() {
  std::shared_ptr<oneshot_event> room = std::exchange(_room, nullptr);
  _room = std::make_shared<oneshot_event>();
  room->set();
}

void blob_fetcher::cancel_all() {
  std::vector<std::shared_ptr<whole_fetch>> fetching;
  for (auto& [id, f] : _fetching) {
    fetching.push_back(f);
  }
  for (auto& f : fetching) {
    f->cancel.request_abort();
  }
}

}  // namespace ossuring::fs
