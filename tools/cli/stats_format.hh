// `ossuring stats` for people: the daemon's stats JSON (mount_stats::to_json) as a short report
// with human units, hit rates, cache fill against its budgets, requests per OSS API with latency
// percentiles, and errors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ossuring::cli {

// 0 B, 512 B, 1.5 KiB, 12.0 MiB, 3.25 GiB: binary units, three significant digits.
std::string human_bytes(uint64_t n);
// 1234567 as 1,234,567.
std::string human_count(uint64_t n);
// 93.4% (of `whole`); "-" when whole is 0.
std::string percent(uint64_t part, uint64_t whole);
// 3 d 4 h, 2 h 5 min, 4 min 10 s, 12 s.
std::string human_duration(uint64_t seconds);

// The report, or "" with *error set when `json` is not the daemon's stats document.
std::string format_stats(std::string_view json, std::string* error);

}  // namespace ossuring::cli
