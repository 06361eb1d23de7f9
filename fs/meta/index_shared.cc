// index_metadata's side of --shared-index: where the first and the next index come from (a
// listing, or the image shared through the bucket, fs/meta/shared_index.hh) and publishing.
#include "fs/meta/index_meta.hh"
#include "fs/meta/shared_index.hh"

namespace ossuring::fs {

shared_index* index_metadata::shared() {
  if (!_shared && !_ctx.opts.shared_index.empty()) {
    _shared = std::make_shared<shared_index>(_ctx.client, _ctx.opts, _list_abort);
  }
  return _shared && !_shared->key().empty() ? _shared.get() : nullptr;
}

task<result<index>> index_metadata::first_index(bool& publish) {
  publish = false;
  shared_index* sh = shared();
  if (sh == nullptr) {
    co_return co_await list_index();
  }
  result<shared_index::decision> d = co_await sh->start();
  if (!d) {
    co_return std::move(d).err();
  }
  if (d->what == shared_index::action::use_image) {
    co_return std::move(*d->image);
  }
  publish = d->what == shared_index::action::list_and_publish;
  co_return co_await list_index();
}

task<result<index>> index_metadata::next_index(bool& publish) {
  publish = false;
  shared_index* sh = shared();
  if (sh == nullptr) {
    co_return co_await list_index();
  }
  result<shared_index::decision> d = co_await sh->refresh(current().build_time());
  if (!d) {
    co_return std::move(d).err();
  }
  switch (d->what) {
    case shared_index::action::use_image:
      co_return std::move(*d->image);
    case shared_index::action::keep:
      co_return make_error(EEXIST, "the shared index is current");
    case shared_index::action::list_and_publish:
      publish = true;
      break;
    case shared_index::action::list:
      break;
  }
  co_return co_await list_index();
}

task<void> index_metadata::publish_shared() {
  if (shared_index* sh = shared()) {
    co_await sh->publish(current());
  }
}

}  // namespace ossuring::fs
