// index_metadata: index mode. Metadata answered from an in-memory `index` of the whole prefix
// (zero requests after the build), built by a parallel listing (index_build.cc) or loaded from a
// saved file, and replaced under a live mount by refreshes through index generations
// (index_meta.cc explains them).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/abort.hh"
#include "fs/detail/context.hh"
#include "fs/index.hh"
#include "fs/meta/list_split.hh"
#include "fs/meta/metadata.hh"

namespace ossuring::fs {

class shared_index;

class index_metadata final : public metadata {
 public:
  // `on_install` runs whenever another index is installed: node numbers (prefetch cursors) name
  // other objects now, and with `inodes_reused` kernel inode numbers (the HEAD cache) too.
  index_metadata(fs_context& ctx, std::function<void(bool inodes_reused)> on_install);
  ~index_metadata() override;

  static constexpr std::chrono::seconds provisional_timeout = provisional_index_timeout;

  task<result<entry_reply>> lookup(uint64_t parent, std::string_view name) override;
  void forget(uint64_t ino, uint64_t nlookup) override;
  task<result<attr_reply>> getattr(uint64_t ino) override;
  task<result<uint64_t>> opendir(uint64_t ino) override;
  task<status> readdir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                       const dir_emit& emit) override;
  void releasedir(uint64_t ino, uint64_t fh) override;
  bool keep_dir_cache(uint64_t ino) override;
  std::chrono::nanoseconds negative_timeout() const override;
  result<node_info> resolve(uint64_t ino) override;
  bool describes(uint64_t, const std::string&, uint64_t) override {
    return true;  // an index inode's object never changes: a refresh gives it a new inode
  }
  uint64_t file_count() const override { return current().node_count(); }
  std::optional<sibling_view> siblings(uint64_t ino) override;

  const index& current() const { return *_cur->idx; }
  uint64_t current_base() const { return _cur->base; }
  size_t generations() const { return _gens.size(); }
  bool current_provisional() const { return _cur->provisional; }

  // Lists the whole prefix (index_build.cc) and installs the result.
  task<result<index_stats>> build();
  void adopt(index idx) { install(std::move(idx), false); }
  void restore(index idx, const index_restore& r);
  // Reuses the index saved in `file` when it belongs to this bucket/prefix, is intact and is
  // younger than `max_age`; otherwise builds one and saves it there.
  task<result<index_stats>> load_or_build(const std::string& file, std::chrono::seconds max_age,
                                          bool* reused);
  // Lists again and installs a new generation when the listing changed; EALREADY while
  // another refresh runs.
  task<result<index_stats>> refresh();
  void on_changed(std::function<task<status>()> forget_kernel_names) {
    _forget_kernel_names = std::move(forget_kernel_names);
  }
  // Ends the listings in flight and any started later with ECANCELED.
  void abort_listings() { _list_abort.request_abort(); }

 private:
  // One installed index: kernel inode numbers base + node (node >= 2; the root is always 1, of
  // the newest generation).
  struct index_gen {
    std::shared_ptr<const index> idx;
    uint64_t base = 0;
    uint64_t lookups = 0;      // entries handed to the kernel and not yet forgotten
    uint64_t holds = 0;        // open directory handles
    bool provisional = false;  // loaded from disk and not yet confirmed by a refresh
  };
  struct node_ref {
    index_gen* gen;
    uint64_t node;
    const index& idx() const { return *gen->idx; }
  };
  struct dir_handle {
    uint64_t ino = 0;
    index_gen* gen = nullptr;  // held until releasedir
    uint64_t node = 0;
  };
  struct build_state;
  struct list_range;

  static object_attrs attrs_at(const index& idx, uint64_t node);
  static uint64_t kernel_ino(const index_gen& g, uint64_t node) {
    return node == index::root_ino ? node : g.base + node;
  }
  std::optional<node_ref> find_node(uint64_t ino);
  void install(index idx, bool provisional);
  void maybe_drop(index_gen& g);
  std::optional<uint64_t> current_node_of(const node_ref& r) const;
  std::chrono::nanoseconds entry_timeout_of(const index_gen& g) const;
  std::chrono::nanoseconds attr_timeout_of(const index_gen& g) const;
  task<result<index>> list_index();
  task<void> list_worker(build_state& st, list_range& r);
  // Hands the upper part of `r` to a new listing when the build may run another (`page`: the
  // page `r` just listed, which hints where keys are).
  void try_split(build_state& st, list_range* r, const std::vector<oss::listed_object>* page);
  void split_at(build_state& st, list_range& r, std::string mid);
  static list_range* widest_range(build_state& st, std::string_view sentinel);
  // Writes the current index to _index_file. The write (about 60 MB for a million keys, 0.25 s
  // that readiness used to wait on) runs on a thread of its own in the background group, which
  // unmount waits on; one write at a time, and the newest index is the one left on disk.
  void save();
  task<void> save_loop();
  // --shared-index (index_shared.cc): the first and the next index, a listing or the image
  // shared through the bucket (next_index: EEXIST when the index served stays); `publish` when
  // this mount won the right to publish what it lists.
  task<result<index>> first_index(bool& publish);
  task<result<index>> next_index(bool& publish);
  task<void> publish_shared();
  shared_index* shared();

  fs_context& _ctx;
  std::function<void(bool)> _on_install;
  std::map<uint64_t, index_gen> _gens;  // by base
  index_gen* _cur;                      // the newest generation (never null)
  std::unordered_map<uint64_t, dir_handle> _dirs;
  std::string _index_file;  // where the index is saved ("" = nowhere)
  bool _refreshing = false;
  bool _saving = false;       // save_loop runs
  bool _save_wanted = false;  // the installed index is newer than the file save_loop last wrote
  std::function<task<status>()> _forget_kernel_names;
  uint64_t _installs = 0;            // indexes installed so far
  uint64_t _root_cache_install = 0;  // _installs when the kernel last cached the root listing
  abort_source _list_abort;          // fired by close(): listings in flight end
  // A restored daemon's (restore): directory handles below _fh_floor are the dead daemon's,
  // rebuilt on use; new generations start at _base_floor or above, clear of any the dead daemon
  // may have installed after its last handoff.
  uint64_t _fh_floor = 0;
  uint64_t _base_floor = 0;
  std::shared_ptr<shared_index> _shared;  // --shared-index, made at first use; else null
};

}  // namespace ossuring::fs
