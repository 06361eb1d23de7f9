// list_split: cut points for the parallel index build's listings (see list_split.hh).
#include "fs/meta/list_split.hh"

#include <algorithm>

namespace ossuring::fs {

std::optional<std::string> split_key(std::string_view lo, std::string_view hi) {
  constexpr int first = 0x20;
  constexpr int last = 0x7e;
  const size_t i = parted_at(lo, hi);
  if (i >= hi.size()) {
    return std::nullopt;  // hi is a prefix of lo: lo >= hi
  }
  int a = i < lo.size() ? static_cast<unsigned char>(lo[i]) : first - 1;
  int b = static_cast<unsigned char>(hi[i]);
  if (a >= b) {
    return std::nullopt;  // lo > hi
  }
  int lo_c = std::max(a + 1, first);
  int hi_c = std::min(b - 1, last);
  if (lo_c <= hi_c) {
    std::string m(hi.substr(0, i));
    m += static_cast<char>((lo_c + hi_c + 1) / 2);
    return m;
  }
  // No room at i: keep lo's byte there (anything longer then sorts below hi) and split deeper.
  if (i >= lo.size()) {
    return std::nullopt;
  }
  for (size_t j = i + 1; j < lo.size() + 1 && j < i + 8; ++j) {
    int aj = j < lo.size() ? static_cast<unsigned char>(lo[j]) : first - 1;
    int lo_j = std::max(aj + 1, first);
    if (lo_j <= last) {
      std::string m(lo.substr(0, j));
      m += static_cast<char>((lo_j + last + 1) / 2);
      return m;
    }
  }
  return std::nullopt;
}

// A split point in (lo, hi) where the keys of the page just listed suggest more keys are: the
// page's keys share a prefix up to position p (where they vary), so the next keys likely stay
// within the family one position up (the prefix up to p - 1, which ends before `hi`), and use
// the bytes the page's keys use where they vary (digits for `file-00123`, say). The midpoint of
// that family between `lo` and its end; nullopt when there is no room.
std::optional<std::string> split_near(const std::vector<oss::listed_object>& page,
                                      std::string_view lo, std::string_view hi, size_t prefix) {
  if (page.size() < 2) {
    return std::nullopt;
  }
  std::string_view f = page.front().key;
  size_t p = 0;
  while (p < f.size() && p < lo.size() && f[p] == lo[p]) {
    ++p;
  }
  if (p <= prefix + 1 || p >= lo.size()) {
    return std::nullopt;
  }
  int first = 0xff;
  int last = 0;
  for (const auto& o : page) {
    for (size_t i = p - 1; i < o.key.size(); ++i) {
      first = std::min<int>(first, static_cast<unsigned char>(o.key[i]));
      last = std::max<int>(last, static_cast<unsigned char>(o.key[i]));
    }
  }
  // The family's end: the prefix up to p - 1 with its last byte raised (nullopt at 0xff).
  std::string end(lo.substr(0, p - 1));
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) {
    end.pop_back();
  }
  if (end.size() <= prefix) {
    return std::nullopt;
  }
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  std::string_view upper = std::min(std::string_view(end), hi);
  // The first byte from p - 1 on where lo can be raised within the family and the alphabet.
  for (size_t j = p - 1; j < lo.size() && j < p + 8; ++j) {
    const int from = static_cast<unsigned char>(lo[j]) + 1;
    if (from > last) {
      continue;
    }
    std::string m(lo.substr(0, j));
    m += static_cast<char>((std::max(from, first) + last + 1) / 2);
    if (m > lo && m < upper) {
      return m;
    }
  }
  return std::nullopt;
}

namespace {

uint8_t byte_at(std::string_view s, size_t i) {
  return static_cast<uint8_t>(s[i]);
}

// [first, last] widened to whole character classes: a position seen holding `0`..`3` may hold
// any digit, one seen holding `d` any lower case letter.
std::pair<int, int> widen(int first, int last) {
  auto low = [](int c) {
    return c >= '0' && c <= '9' ? '0' : c >= 'a' && c <= 'z' ? 'a' : c >= 'A' && c <= 'Z' ? 'A' : c;
  };
  auto high = [](int c) {
    return c >= '0' && c <= '9' ? '9' : c >= 'a' && c <= 'z' ? 'z' : c >= 'A' && c <= 'Z' ? 'Z' : c;
  };
  return {low(first), high(last)};
}

}  // namespace

void key_bytes::add(std::string_view key) {
  const size_t n = std::min(key.size(), depth);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = byte_at(key, i);
    _lo[i] = std::min(_lo[i], c);
    _hi[i] = std::max(_hi[i], c);
  }
}

std::optional<std::string> key_bytes::cut(std::string_view lo, std::string_view hi,
                                          size_t prefix) const {
  const size_t i = parted_at(lo, hi);  // a cut keeps lo's bytes before it
  if (i >= hi.size() || (i < lo.size() && byte_at(lo, i) > byte_at(hi, i))) {
    return std::nullopt;  // lo >= hi
  }
  // Pass 0: only positions where the keys seen varied, with the bytes seen there. Pass 1: every
  // position, with the seen bytes' classes (a position fixed so far may still vary above lo).
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t j = std::max(i, prefix); j <= lo.size() && j < depth; ++j) {
      if (_lo[j] > _hi[j]) {
        break;  // no key seen this long
      }
      if (pass == 0 && _lo[j] == _hi[j]) {
        continue;
      }
      auto [first, last] = pass == 0 ? std::pair<int, int>(_lo[j], _hi[j]) : widen(_lo[j], _hi[j]);
      const int above = j < lo.size() ? byte_at(lo, j) + 1 : 0;
      const int from = std::max(above, first);
      const int to = j == i ? std::min(last, byte_at(hi, j) - 1) : last;
      if (from > to) {
        continue;
      }
      // Past i, the cut shares lo's bytes before j and is above lo at j: lo < cut < hi.
      std::string m(lo.substr(0, j));
      m += static_cast<char>((from + to + 1) / 2);
      return m;
    }
  }
  return std::nullopt;
}

std::optional<std::string> key_bytes::ahead(std::string_view prev, std::string_view cur,
                                            unsigned pages, size_t prefix) const {
  const size_t n = std::min({prev.size(), cur.size(), depth});
  if (n <= prefix || prev.substr(0, prefix) != cur.substr(0, prefix)) {
    return std::nullopt;
  }
  // Positions [prefix, n) as digits, most significant first: base[k] is the lowest byte position
  // prefix + k may hold, size[k] how many.
  std::vector<int> base;
  std::vector<int> size;
  for (size_t j = prefix; j < n; ++j) {
    if (_lo[j] > _hi[j]) {
      return std::nullopt;  // no key seen this long
    }
    // A position seen holding one byte keeps it, unless a digit (`d0` may be followed by `d1`),
    // so a carry passes over `/` and `d` to the digit above them.
    const bool fixed = _lo[j] == _hi[j] && !(_lo[j] >= '0' && _lo[j] <= '9');
    auto [first, last] = fixed ? std::pair<int, int>(_lo[j], _hi[j]) : widen(_lo[j], _hi[j]);
    first = std::min({first, int{byte_at(prev, j)}, int{byte_at(cur, j)}});
    last = std::max({last, int{byte_at(prev, j)}, int{byte_at(cur, j)}});
    base.push_back(first);
    size.push_back(last - first + 1);
  }
  // The step (cur - prev) digit by digit, scaled and normalised with borrows and carries: a
  // negative carry out of the top means prev > cur, a positive one a sum past the classes.
  std::vector<int64_t> step(base.size());
  int64_t carry = 0;
  for (size_t k = step.size(); k-- > 0;) {
    const int64_t v = int64_t{byte_at(cur, prefix + k) - byte_at(prev, prefix + k)} * pages + carry;
    carry = v >= 0 ? v / size[k] : -((-v + size[k] - 1) / size[k]);
    step[k] = v - carry * size[k];
  }
  if (carry != 0 || std::all_of(step.begin(), step.end(), [](int64_t d) { return d == 0; })) {
    return std::nullopt;
  }
  std::string m(cur.substr(0, n));
  carry = 0;
  for (size_t k = step.size(); k-- > 0;) {
    const int64_t v = (byte_at(cur, prefix + k) - base[k]) + step[k] + carry;
    carry = v / size[k];
    m[prefix + k] = static_cast<char>(base[k] + v % size[k]);
  }
  if (carry > 0) {
    return std::nullopt;
  }
  return m;
}

}  // namespace ossuring::fs
