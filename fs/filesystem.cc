// filesystem: the facade. Builds the parts (metadata of the mount's mode, reader, prefetch,
// writer, xattrs) and hands each operation to the one that implements it; statfs and close,
// which concern all of them, are here.
#include "fs/filesystem.hh"

#include <fcntl.h>

#include "fs/data/fetcher.hh"
#include "fs/data/prefetch.hh"
#include "fs/data/reader.hh"
#include "fs/data/writer.hh"
#include "fs/detail/context.hh"
#include "fs/meta/index_meta.hh"
#include "fs/meta/lazy_meta.hh"
#include "fs/meta/xattrs.hh"

namespace ossuring::fs {

namespace {

error no_index() {
  return make_error(EINVAL, "a lazy-mode mount has no index");
}

}  // namespace

filesystem::filesystem(oss::object_client& client, fs_options opts,
                       std::unique_ptr<blob_store> blobs, clock_fn now)
    : _ctx(std::make_unique<fs_context>(client, std::move(opts), std::move(now))),
      _blobs(blobs ? std::move(blobs) : std::make_unique<memory_blob_store>()) {
  if (_ctx->opts.mode == fs_mode::index) {
    auto idx = std::make_unique<index_metadata>(*_ctx, [this](bool inodes_reused) {
      if (inodes_reused) {
        _xattrs->forget_all();
      }
      _prefetch->forget_cursors();
    });
    _index = idx.get();
    _meta = std::move(idx);
  } else {
    auto lazy = std::make_unique<lazy_metadata>(*_ctx);
    _lazy = lazy.get();
    _meta = std::move(lazy);
  }
  _xattrs = std::make_unique<xattr_reader>(*_ctx, *_meta);
  _fetcher = std::make_unique<blob_fetcher>(*_ctx, *_blobs);
  _prefetch = std::make_unique<prefetcher>(*_ctx, *_meta, *_blobs, *_fetcher);
  _reader = std::make_unique<reader>(*_ctx, *_meta, *_fetcher, *_prefetch);
  _writer = std::make_unique<writer>(*_ctx, _lazy, *_blobs);
}

filesystem::~filesystem() = default;

const fs_options& filesystem::options() const {
  return _ctx->opts;
}

const fs_counters& filesystem::counters() const {
  return _ctx->counters;
}

blob_store_stats filesystem::cache_stats() const {
  return _blobs->stats();
}

bool filesystem::is_cached(uint64_t ino) {
  auto n = _meta->resolve(ino);
  return n && !n->attrs.is_dir && !n->attrs.etag.empty() &&
         _blobs->contains(blob_store::blob_id(n->attrs.etag, n->attrs.size));
}

task<void> filesystem::close() {
  _ctx->closing = true;
  abort_listings();  // a refresh in flight ends now
  _prefetch->stop();
  _reader->cancel_all();
  _fetcher->cancel_all();
  _writer->upload_dirty();
  co_await _ctx->background.wait();
}

// ---- the index (index mode): fs/meta/index_meta.cc, fs/meta/index_build.cc ----

const index& filesystem::current_index() const {
  static const index empty;
  return _index ? _index->current() : empty;
}

uint64_t filesystem::current_index_base() const {
  return _index ? _index->current_base() : 0;
}

size_t filesystem::index_generations() const {
  return _index ? _index->generations() : 1;
}

bool filesystem::current_index_provisional() const {
  return _index && _index->current_provisional();
}

task<result<index_stats>> filesystem::build_index() {
  if (!_index) {
    co_return no_index();
  }
  co_return co_await _index->build();
}

void filesystem::abort_listings() {
  if (_index) {
    _index->abort_listings();
  }
}

void filesystem::adopt_index(index idx) {
  if (_index) {
    _index->adopt(std::move(idx));
  }
}

void filesystem::restore_index(index idx, const index_restore& r) {
  if (_index) {
    _index->restore(std::move(idx), r);
  }
}

task<result<index_stats>> filesystem::refresh_index() {
  if (!_index) {
    co_return no_index();
  }
  co_return co_await _index->refresh();
}

void filesystem::on_index_changed(std::function<task<status>()> forget_kernel_names) {
  if (_index) {
    _index->on_changed(std::move(forget_kernel_names));
  }
}

task<result<index_stats>> filesystem::load_or_build_index(const std::string& file,
                                                          std::chrono::seconds max_age,
                                                          bool* reused) {
  if (reused) {
    *reused = false;
  }
  if (!_index) {
    co_return no_index();
  }
  co_return co_await _index->load_or_build(file, max_age, reused);
}

// ---- metadata: fs/meta/index_meta.cc or fs/meta/lazy_meta.cc; xattrs: fs/meta/xattrs.cc ----

std::chrono::nanoseconds filesystem::negative_timeout() const {
  return _meta->negative_timeout();
}

task<result<entry_reply>> filesystem::lookup(uint64_t parent, std::string_view name) {
  co_return co_await _meta->lookup(parent, name);
}

void filesystem::forget(uint64_t ino, uint64_t nlookup) {
  _meta->forget(ino, nlookup);
  _xattrs->forget(ino);
}

task<result<attr_reply>> filesystem::getattr(uint64_t ino) {
  co_return co_await _meta->getattr(ino);
}

task<result<uint64_t>> filesystem::opendir(uint64_t ino) {
  co_return co_await _meta->opendir(ino);
}

task<status> filesystem::readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                                 const dir_emit& emit) {
  co_return co_await _meta->readdir(ino, fh, offset, plus, emit);
}

void filesystem::releasedir(uint64_t ino, uint64_t fh) {
  _meta->releasedir(ino, fh);
}

bool filesystem::keep_dir_cache(uint64_t ino) {
  return _meta->keep_dir_cache(ino);
}

task<result<fs_statfs>> filesystem::statfs(uint64_t) {
  fs_statfs s;
  // Object storage has no capacity limit worth reporting: a large constant keeps df and
  // free-space checks of copying tools happy.
  s.blocks = 1ull << 40;
  s.bfree = s.bavail = 0;
  s.files = _meta->file_count();
  s.ffree = 0;
  if (_ctx->opts.writable) {
    // No quota to report either: a writable mount that showed no free space would make
    // programs that check before writing (installers, download managers) refuse.
    s.bfree = s.bavail = s.blocks;
    s.ffree = 1ull << 32;
  }
  co_return s;
}

task<result<std::string>> filesystem::getxattr(uint64_t ino, std::string_view name) {
  co_return co_await _xattrs->get(ino, name);
}

task<result<std::vector<std::string>>> filesystem::listxattr(uint64_t ino) {
  co_return co_await _xattrs->list(ino);
}

// ---- data: reading in fs/data/reader.cc and read_ahead.cc, files being written in
// fs/data/writer.cc ----

task<result<open_reply>> filesystem::open(uint64_t ino, int flags, abort_source* abort, bool pin) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    co_return co_await _writer->open_for_write(ino, flags);
  }
  if (std::optional<open_reply> staged = _writer->open_staged(ino)) {
    co_return *staged;
  }
  co_return co_await _reader->open(ino, abort, pin);
}

task<result<size_t>> filesystem::read(uint64_t ino, uint64_t fh, uint64_t offset,
                                      std::span<std::byte> dest, abort_source* abort) {
  if (_writer->owns(fh)) {
    co_return _writer->read(fh, offset, dest);
  }
  co_return co_await _reader->read(ino, fh, offset, dest, abort);
}

void filesystem::release(uint64_t ino, uint64_t fh) {
  if (!_writer->release(ino, fh)) {
    _reader->release(fh);
  }
}

bool filesystem::is_current(uint64_t fh) {
  return _reader->is_current(fh);
}

// ---- writes: fs/data/writer.cc, names.cc (mkdir, unlink, rmdir, rename), upload.cc ----

task<result<create_reply>> filesystem::create(uint64_t parent, std::string_view name) {
  co_return co_await _writer->create(parent, name);
}

task<result<size_t>> filesystem::write(uint64_t ino, uint64_t fh, uint64_t offset,
                                       std::span<const std::byte> data) {
  co_return co_await _writer->write(ino, fh, offset, data);
}

task<status> filesystem::flush(uint64_t ino, uint64_t fh) {
  co_return co_await _writer->flush(ino, fh);
}

task<status> filesystem::fsync(uint64_t ino, uint64_t fh) {
  co_return co_await _writer->fsync(ino, fh);
}

task<result<attr_reply>> filesystem::setattr(uint64_t ino, std::optional<uint64_t> size) {
  if (size) {
    status st = co_await _writer->truncate(ino, *size);
    if (!st) {
      co_return std::move(st).err();
    }
  }
  co_return co_await _meta->getattr(ino);  // mode, owner and times are not stored in OSS
}

task<result<entry_reply>> filesystem::mkdir(uint64_t parent, std::string_view name) {
  co_return co_await _writer->mkdir(parent, name);
}

task<status> filesystem::unlink(uint64_t parent, std::string_view name) {
  co_return co_await _writer->unlink(parent, name);
}

task<status> filesystem::rmdir(uint64_t parent, std::string_view name) {
  co_return co_await _writer->rmdir(parent, name);
}

task<status> filesystem::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                                std::string_view new_name, unsigned flags) {
  co_return co_await _writer->rename(parent, name, new_parent, new_name, flags);
}

}  // namespace ossuring::fs
