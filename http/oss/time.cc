// RFC 1123 / ISO 8601 / x-oss-date formatting and strict parsing.
#include "http/oss/time.hh"

#include <algorithm>
#include <array>
#include <cstdio>

namespace ossuring::oss {

namespace {

constexpr std::array<const char*, 7> weekdays = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct civil {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
  unsigned hour, minute, second;
  int64_t days;  // since the epoch
};

// Inverse of days_from_civil (H. Hinnant's algorithm), plus the time of day.
civil to_civil(int64_t sec) {
  int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
  int64_t rem = sec - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return civil{m <= 2 ? y + 1 : y,
               m,
               d,
               static_cast<unsigned>(rem / 3600),
               static_cast<unsigned>(rem / 60 % 60),
               static_cast<unsigned>(rem % 60),
               days};
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

// Reads exactly `n` decimal digits at s[pos], advancing pos.
bool digits(std::string_view s, size_t& pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) {
    return false;
  }
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  pos += n;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

bool valid_fields(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned sec) {
  // Second 60 (leap second) is refused: OSS never emits it.
  return y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h < 24 &&
         mi < 60 && sec < 60;
}

int64_t to_seconds(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned sec) {
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
}

error bad_time(std::string_view kind, std::string_view s) {
  std::string shown(s.substr(0, 64));
  return make_error(EINVAL, "invalid " + std::string(kind) + " time: \"" + shown + "\"");
}

}  // namespace

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

// Fixed-width decimal fields: every signed request formats a date, and snprintf cost more than
// the rest of V4 signing's string work.
char* put_digits(char* p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

bool four_digit_year(const civil& c) {
  return c.year >= 0 && c.year <= 9999;
}

}  // namespace

std::string format_rfc1123(int64_t sec) {
  civil c = to_civil(sec);
  int64_t wd = c.days % 7;
  if (wd < 0) {
    wd += 7;
  }
  char buf[64];
  if (!four_digit_year(c)) {
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02u:%02u:%02u GMT",
                  weekdays[static_cast<size_t>(wd)], c.day, months[c.month - 1],
                  static_cast<long long>(c.year), c.hour, c.minute, c.second);
    return buf;
  }
  char* p = buf;
  p = std::copy_n(weekdays[static_cast<size_t>(wd)], 3, p);
  *p++ = ',';
  *p++ = ' ';
  p = put_digits(p, c.day, 2);
  *p++ = ' ';
  p = std::copy_n(months[c.month - 1], 3, p);
  *p++ = ' ';
  p = put_digits(p, static_cast<unsigned>(c.year), 4);
  *p++ = ' ';
  p = put_digits(p, c.hour, 2);
  *p++ = ':';
  p = put_digits(p, c.minute, 2);
  *p++ = ':';
  p = put_digits(p, c.second, 2);
  p = std::copy_n(" GMT", 4, p);
  return std::string(buf, p);
}

result<int64_t> parse_rfc1123(std::string_view s) {
  // "Wed, 28 Dec 2022 10:27:41 GMT"; the weekday is checked for shape only.
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ') {
    return bad_time("RFC 1123", s);
  }
  bool wd_ok = false;
  for (const char* w : weekdays) {
    wd_ok = wd_ok || s.substr(0, 3) == w;
  }
  size_t pos = 5;
  unsigned d = 0, y = 0, h = 0, mi = 0, sec = 0;
  if (!wd_ok || !digits(s, pos, 2, d) || !expect(s, pos, ' ')) {
    return bad_time("RFC 1123", s);
  }
  unsigned mo = 0;
  for (unsigned i = 0; i < 12; ++i) {
    if (s.substr(pos, 3) == months[i]) {
      mo = i + 1;
    }
  }
  pos += 3;
  if (mo == 0 || !expect(s, pos, ' ') || !digits(s, pos, 4, y) || !expect(s, pos, ' ') ||
      !digits(s, pos, 2, h) || !expect(s, pos, ':') || !digits(s, pos, 2, mi) ||
      !expect(s, pos, ':') || !digits(s, pos, 2, sec) || !expect(s, pos, ' ')) {
    return bad_time("RFC 1123", s);
  }
  std::string_view zone = s.substr(pos);
  if ((zone != "GMT" && zone != "UTC") || !valid_fields(y, mo, d, h, mi, sec)) {
    return bad_time("RFC 1123", s);
  }
  return to_seconds(y, mo, d, h, mi, sec);
}

result<timestamp> parse_iso8601(std::string_view s) {
  size_t pos = 0;
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, pos, 4, y) || !expect(s, pos, '-') || !digits(s, pos, 2, mo) ||
      !expect(s, pos, '-') || !digits(s, pos, 2, d) || !expect(s, pos, 'T') ||
      !digits(s, pos, 2, h) || !expect(s, pos, ':') || !digits(s, pos, 2, mi) ||
      !expect(s, pos, ':') || !digits(s, pos, 2, sec) || !valid_fields(y, mo, d, h, mi, sec)) {
    return bad_time("ISO 8601", s);
  }
  uint32_t nsec = 0;
  if (expect(s, pos, '.')) {
    size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        nsec = nsec * 10 + static_cast<uint32_t>(s[pos] - '0');
      }
      ++n;
      ++pos;
    }
    if (n == 0 || n > 9) {
      return bad_time("ISO 8601", s);
    }
    for (; n < 9; ++n) {
      nsec *= 10;
    }
  }
  int64_t offset = 0;
  if (expect(s, pos, 'Z')) {
    // UTC
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    unsigned oh = 0, om = 0;
    if (!digits(s, pos, 2, oh) || !expect(s, pos, ':') || !digits(s, pos, 2, om) || oh > 23 ||
        om > 59) {
      return bad_time("ISO 8601", s);
    }
    offset = sign * static_cast<int64_t>(oh * 3600 + om * 60);
  } else {
    return bad_time("ISO 8601", s);
  }
  if (pos != s.size()) {
    return bad_time("ISO 8601", s);
  }
  return timestamp{to_seconds(y, mo, d, h, mi, sec) - offset, nsec};
}

std::string format_iso8601(int64_t sec, uint32_t nsec) {
  civil c = to_civil(sec);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
                static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second,
                nsec / 1000000);
  return buf;
}

std::string format_v4_date(int64_t sec) {
  civil c = to_civil(sec);
  char buf[32];
  if (!four_digit_year(c)) {
    std::snprintf(buf, sizeof buf, "%04lld%02u%02uT%02u%02u%02uZ", static_cast<long long>(c.year),
                  c.month, c.day, c.hour, c.minute, c.second);
    return buf;
  }
  char* p = put_digits(buf, static_cast<unsigned>(c.year), 4);
  p = put_digits(p, c.month, 2);
  p = put_digits(p, c.day, 2);
  *p++ = 'T';
  p = put_digits(p, c.hour, 2);
  p = put_digits(p, c.minute, 2);
  p = put_digits(p, c.second, 2);
  *p++ = 'Z';
  return std::string(buf, p);
}

}  // namespace ossuring::oss
