// Internal: the folder store's sidecar directory DIR/.ossemu/, which makes what a plain file cannot
// carry survive a restart: the metadata of objects written through the emulator (content type,
// x-oss-meta-*, multipart ETag, object type) and the bytes of keys the folder cannot hold.
//
// Layout: DIR/.ossemu/meta/ID holds one record per key, DIR/.ossemu/data/ID the bytes of a key
// stored in the sidecar; ID is the lower-case hex MD5 of the key, and the record repeats the key,
// so a (vanishingly unlikely) collision is detected instead of serving another key's object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hh"
#include "tools/emu/store.hh"

namespace ossuring::emu::detail {

struct sidecar_record {
  // entry: key, size, mtime (seconds), ETag, type; plus content type and user metadata.
  object_meta meta;
  // The bytes live in DIR/.ossemu/data/ID (the key has no path in the folder).
  bool in_sidecar = false;
  // For a folder file: its st_mtim (ns) when written; a record whose file changed behind the
  // emulator's back (other size or mtime) is stale and ignored.
  uint64_t file_mtime_ns = 0;
};

// A line-based text record, every value percent-encoded (keys and metadata may hold any byte).
std::string encode_sidecar_record(const sidecar_record& r);
result<sidecar_record> decode_sidecar_record(std::string_view text);

class folder_sidecar {
 public:
  static constexpr std::string_view dir_name = ".ossemu";

  explicit folder_sidecar(std::string root);

  // Every record under DIR/.ossemu/meta (start-up); unreadable or foreign files are skipped with
  // a warning, a missing sidecar is an empty one.
  result<std::unordered_map<std::string, sidecar_record>> load() const;
  // Writes the record (atomically: temporary file, then rename), creating the sidecar on first
  // use.
  status save(const sidecar_record& r) const;
  // Writes the bytes of a sidecar key (atomically).
  status save_data(std::string_view key, std::string_view data) const;
  // Removes the record and the bytes of `key`, if any.
  void remove(std::string_view key) const;
  std::string data_path(std::string_view key) const;

  static std::string id_of(std::string_view key);

 private:
  status ensure_dirs() const;

  std::string _dir;  // DIR/.ossemu
};

// Writes `data` to a temporary name next to `target`, then renames it over `target`.
status write_file_atomically(const std::string& target, std::string_view data);

}  // namespace ossuring::emu::detail
