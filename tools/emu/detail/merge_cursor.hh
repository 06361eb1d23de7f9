// Internal: a cursor merging two sorted cursors (the second wins on equal keys), used by the
// layered store (a synthetic bucket's write overlay); also the shared MD5 ETag helper.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "tools/emu/store.hh"

namespace ossuring::emu::detail {

// Keys in `hidden` are skipped when they come from `base` (deleted synthetic objects).
std::unique_ptr<cursor> merge_cursors(
    std::unique_ptr<cursor> base, std::unique_ptr<cursor> top,
    std::shared_ptr<const std::set<std::string, std::less<>>> hidden);

std::string md5_etag(std::string_view data);

}  // namespace ossuring::emu::detail
