// Object stores behind the emulator: one interface over a local folder, memory, and synthetic
// buckets computed from a spec. Listing is a sorted cursor so callers pay O(page), not O(bucket).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hh"

namespace ossuring::emu {

enum class object_type { normal, multipart, appendable };
std::string_view object_type_name(object_type t);

// What a listing entry and HEAD need. `etag` is unquoted upper-case hex (multipart: "...-N").
struct object_entry {
  std::string key;
  uint64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
  std::string etag;
  object_type type = object_type::normal;
};

// Full metadata of one object (HEAD/GET).
struct object_meta {
  object_entry entry;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_meta;  // x-oss-meta-* (name lower case)
};

// Pull-style body: the driver asks for bytes at any offset and streams them out, so neither
// HTTP/1.1 nor HTTP/2 ever materialise a large object. read() fills at most out.size() bytes and
// returns how many; fewer than asked only at the end, 0 on an I/O error before the end.
class body_source {
 public:
  virtual ~body_source() = default;
  virtual uint64_t size() const = 0;
  virtual size_t read(uint64_t offset, std::span<std::byte> out) const = 0;
};

// Whole-body helpers.
std::shared_ptr<body_source> make_string_source(std::string data);
// The window [offset, offset+length) of `inner`.
std::shared_ptr<body_source> make_range_source(std::shared_ptr<body_source> inner, uint64_t offset,
                                               uint64_t length);
// Reads a whole source into a string (tests, copy, small objects).
std::string read_all(const body_source& src);

// A position in key order. valid() false at the end.
class cursor {
 public:
  virtual ~cursor() = default;
  virtual bool valid() const = 0;
  virtual const object_entry& entry() const = 0;
  virtual void next() = 0;
};

struct put_input {
  std::string data;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_meta;
  object_type type = object_type::normal;
  std::string etag;  // empty: the store computes one (MD5 of the data, upper-case hex)
  int64_t mtime = 0;
};

class store {
 public:
  virtual ~store() = default;
  // First object with key >= from (inclusive) or > from.
  virtual std::unique_ptr<cursor> seek(std::string_view from, bool inclusive) = 0;
  virtual result<object_meta> head(std::string_view key) = 0;  // ENOENT when absent
  virtual result<std::shared_ptr<body_source>> open(std::string_view key) = 0;
  // CRC-64/ECMA of the whole object; stores cache it.
  virtual result<uint64_t> crc64(std::string_view key) = 0;
  virtual result<object_entry> put(std::string_view key, put_input in) = 0;
  // True when something was removed.
  virtual bool remove(std::string_view key) = 0;
};

std::shared_ptr<store> make_memory_store();
// Objects = regular files under `dir` (see docs/emulator.md for markers and the overlay).
result<std::shared_ptr<store>> make_folder_store(std::string dir);
// `spec` is imagenet:D:F[:SIZE], flat:N[:SIZE], deep:N[:SIZE] or big:SIZE[:KEY]; the result
// accepts writes into an in-memory overlay (deletes of synthetic keys are remembered).
result<std::shared_ptr<store>> make_synthetic_store(std::string_view spec);
// Objects of `overlay` shadow `base`; removed base keys are hidden. Both must be sorted stores.
std::shared_ptr<store> make_layered_store(std::shared_ptr<store> base,
                                          std::shared_ptr<store> overlay);

// "1GiB", "110KB", "4096", "1.5MiB" -> bytes; EINVAL otherwise.
result<uint64_t> parse_size(std::string_view s);

// The smallest string greater than every string starting with `prefix` (empty when none):
// where a listing resumes after rolling keys up into a common prefix.
std::string prefix_successor(std::string_view prefix);

}  // namespace ossuring::emu
