// list_guard: the non-advancing-page and outside-the-prefix checks of a multi-page listing.
#include "http/oss/list_guard.hh"

#include <algorithm>

namespace ossuring::oss {

namespace {

// At most this much of a server-chosen key or token goes into a message.
std::string shown(std::string_view s) {
  constexpr size_t max = 200;
  std::string out(s.substr(0, max));
  if (s.size() > max) {
    out += "...";
  }
  return "\"" + out + "\"";
}

}  // namespace

list_guard::list_guard(std::string_view bucket, const list_request& req)
    : _bucket(bucket), _prefix(req.prefix), _start_after(req.start_after), _last(req.start_after) {
  if (!req.continuation_token.empty()) {
    _tokens.insert(req.continuation_token);
  }
}

error list_guard::fail(const list_page& page, std::string what) const {
  std::string msg = "ListObjectsV2 oss://" + _bucket + "/" + _prefix +
                    ": listing does not advance: " + what + " (request id " +
                    (page.request_id.empty() ? std::string("none") : page.request_id) + ")";
  return make_error(EIO, std::move(msg), page.request_id);
}

bool list_guard::outside(std::string_view key) const {
  return !key.starts_with(_prefix);
}

void list_guard::skip(std::string_view key) {
  if (_skipped++ == 0) {
    _first_skipped = std::string(key);
  }
}

status list_guard::check(list_page& page) {
  if (page.truncated) {
    if (page.next_continuation_token.empty()) {
      return fail(page, "a truncated page without a continuation token");
    }
    if (_tokens.contains(page.next_continuation_token)) {
      return fail(page,
                  "continuation token " + shown(page.next_continuation_token) + " seen before");
    }
  }
  // Every key after the previous one and after everything earlier pages (or start-after) gave.
  std::string_view floor = _last;
  const bool floor_set = _any || !_start_after.empty();
  std::string_view prev = floor;
  bool have_prev = floor_set;
  for (const listed_object& o : page.objects) {
    if (have_prev && o.key <= prev) {
      return fail(page, "key " + shown(o.key) + " is not after " + shown(prev));
    }
    prev = o.key;
    have_prev = true;
  }
  std::string_view prev_cp;
  bool have_prev_cp = false;
  for (const std::string& p : page.common_prefixes) {
    if (have_prev_cp && p <= prev_cp) {
      return fail(page, "common prefix " + shown(p) + " is not after " + shown(prev_cp));
    }
    // A start-after inside a common prefix rolls up into it: that prefix may come first.
    const bool rolls_up = !_any && !_start_after.empty() && _start_after.starts_with(p);
    if (floor_set && p <= floor && !rolls_up) {
      return fail(page, "common prefix " + shown(p) + " is not after " + shown(floor));
    }
    prev_cp = p;
    have_prev_cp = true;
  }
  if (page.truncated) {
    _tokens.insert(page.next_continuation_token);
  }
  std::string_view last = page.objects.empty() ? std::string_view{} : page.objects.back().key;
  if (!page.common_prefixes.empty() && std::string_view(page.common_prefixes.back()) > last) {
    last = page.common_prefixes.back();
  }
  if (!page.objects.empty() || !page.common_prefixes.empty()) {
    if (!_any || last > std::string_view(_last)) {
      _last = std::string(last);
    }
    _any = true;
  }
  // What the page advanced over but lies outside the prefix is not part of the listing.
  std::erase_if(page.objects, [this](const listed_object& o) {
    if (outside(o.key)) {
      skip(o.key);
      return true;
    }
    return false;
  });
  std::erase_if(page.common_prefixes, [this](const std::string& p) {
    if (outside(p) || p.size() <= _prefix.size()) {
      skip(p);
      return true;
    }
    return false;
  });
  return {};
}

}  // namespace ossuring::oss
