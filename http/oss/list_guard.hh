// list_guard: the checks that make every multi-page listing end, whatever the server answers.
//
// A listing is a sequence of pages; each must advance. A continuation token seen before in the
// same listing, or a key (or common prefix) that does not sort after everything the listing has
// returned so far (start-after included), ends the listing with EIO naming the bucket, the prefix
// and the request id of the page. Keys and common prefixes outside the asked prefix (or shorter
// than it) in a page that advances are dropped from it and counted, like the other keys that
// cannot be file names (docs/semantics.md "Key names"): they still take part in the order check,
// so a server repeating them cannot keep a listing going.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/result.hh"
#include "http/oss/object_client.hh"

namespace ossuring::oss {

class list_guard {
 public:
  list_guard(std::string_view bucket, const list_request& req);

  // Checks `page`, the answer to the listing's next request, against the pages before it. On
  // success drops its entries outside the prefix; on failure the listing must end.
  status check(list_page& page);

  uint64_t skipped() const noexcept { return _skipped; }
  const std::string& first_skipped() const noexcept { return _first_skipped; }

 private:
  error fail(const list_page& page, std::string what) const;
  bool outside(std::string_view key) const;
  void skip(std::string_view key);

  std::string _bucket;
  std::string _prefix;
  std::string _start_after;
  std::string _last;  // the greatest key or common prefix returned so far
  bool _any = false;  // whether anything was returned yet (else _last is start-after)
  std::unordered_set<std::string> _tokens;
  uint64_t _skipped = 0;
  std::string _first_skipped;
};

}  // namespace ossuring::oss
