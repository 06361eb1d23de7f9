// blob_store: local copies of whole small objects, in memory or in a cache directory.
//
// A blob is immutable once stored and identified by the object's ETag and size, so a changed
// object never reuses a stale copy. The directory backend keeps each blob as a file and hands out
// an O_RDONLY fd that a FUSE passthrough open can register as backing file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hh"

namespace ossuring::fs {

class blob {
 public:
  virtual ~blob() = default;
  virtual uint64_t size() const = 0;
  // Copies bytes from `offset` into `dest`; returns how many (0 at or past the end).
  virtual result<size_t> read(uint64_t offset, std::span<std::byte> dest) const = 0;
  // A readable fd over exactly the blob's bytes, or -1 (memory backend).
  virtual int fd() const { return -1; }
  // The bytes when they are in memory; empty otherwise.
  virtual std::span<const std::byte> memory() const { return {}; }
};

class blob_store {
 public:
  virtual ~blob_store() = default;
  static std::string blob_id(std::string_view etag, uint64_t size);

  virtual std::shared_ptr<blob> find(const std::string& id) = 0;
  // Stores `data` under `id` (replacing nothing: an existing blob with that id is returned).
  virtual result<std::shared_ptr<blob>> store(const std::string& id,
                                              std::vector<std::byte>&& data) = 0;
  virtual uint64_t bytes_stored() const = 0;
};

// Keeps blobs in RAM; no eviction yet (the budget/eviction is a later phase).
class memory_blob_store final : public blob_store {
 public:
  std::shared_ptr<blob> find(const std::string& id) override;
  result<std::shared_ptr<blob>> store(const std::string& id,
                                      std::vector<std::byte>&& data) override;
  uint64_t bytes_stored() const override { return _bytes; }

 private:
  std::unordered_map<std::string, std::shared_ptr<blob>> _blobs;
  uint64_t _bytes = 0;
};

// Keeps blobs as files `<dir>/<id>`, written to a temporary name and renamed into place, so a
// file under its final name is always complete. Survives restarts: `find` opens existing files.
class directory_blob_store final : public blob_store {
 public:
  explicit directory_blob_store(std::string dir);
  std::shared_ptr<blob> find(const std::string& id) override;
  result<std::shared_ptr<blob>> store(const std::string& id,
                                      std::vector<std::byte>&& data) override;
  uint64_t bytes_stored() const override { return _bytes; }

 private:
  std::string _dir;
  std::unordered_map<std::string, std::shared_ptr<blob>> _open;
  uint64_t _bytes = 0;
};

}  // namespace ossuring::fs
