// list_split: where the parallel index build cuts a listing's key range in two.
//
// A cut is a guess: the keys above it are unknown until a LIST returns them. A wrong guess costs
// one LIST (an empty range, or a partial page below the cut), never a key: the two ranges still
// cover everything the one did. So these functions only aim; index_build.cc decides how many
// guesses the build may afford.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/oss/object_client.hh"

namespace ossuring::fs {

// Where `a` and `b` first differ (the shorter one's length when one is a prefix of the other).
inline size_t parted_at(std::string_view a, std::string_view b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                             a.begin());
}

// Returns a key strictly between `lo` and `hi` (lo < hi) made of printable ASCII at the split
// position, or nullopt when none is found within a few bytes.
std::optional<std::string> split_key(std::string_view lo, std::string_view hi);

// A cut in (lo, hi) where the keys of the page just listed (ending at `lo`) suggest more keys
// are: within the family of keys one position above where the page's keys vary. nullopt when
// there is no room. `prefix`: the length of the mount's prefix, never cut into.
std::optional<std::string> split_near(const std::vector<oss::listed_object>& page,
                                      std::string_view lo, std::string_view hi, size_t prefix);

// The bytes the listed keys use at each of their first `depth` positions. A cut made from it
// lands where keys were seen to vary, coarsest position first, so a large bucket's ranges are
// halved where its names actually differ rather than across the whole printable alphabet
// (which sends most guesses above the last key: `train-0123456` has no neighbour at `y`).
class key_bytes {
 public:
  static constexpr size_t depth = 64;

  key_bytes() {
    _lo.fill(0xff);
    _hi.fill(0);
  }
  void add(std::string_view key);
  // A key strictly between `lo` and `hi` (lo < hi), cutting at the first position past
  // `prefix` where the listed keys varied and `lo` can still rise; failing that, at the first
  // position where a byte of the seen byte's class (digit, lower or upper case letter) can.
  std::optional<std::string> cut(std::string_view lo, std::string_view hi, size_t prefix) const;
  // Where the listing that went from `prev` to `cur` in one page would be `pages` pages on, if
  // its names keep their step: each position past `prefix` read as a digit of the seen bytes'
  // class (`file-0042` as decimal digits, `d3/d7` likewise; a position seen holding one byte
  // other than a digit stays as it is), `cur + pages * (cur - prev)` in that mixed radix. nullopt
  // when the step is not positive or the sum leaves the classes. Above `cur` whenever it is a
  // value; whether keys are there is only a guess (see the top of this file).
  std::optional<std::string> ahead(std::string_view prev, std::string_view cur, unsigned pages,
                                   size_t prefix) const;

 private:
  std::array<uint8_t, depth> _lo;
  std::array<uint8_t, depth> _hi;
};

}  // namespace ossuring::fs
