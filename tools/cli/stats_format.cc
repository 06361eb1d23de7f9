// `ossuring stats` for people (stats_format.hh).
#include "tools/cli/stats_format.hh"

#include <simdjson.h>

#include <cstdio>
#include <vector>

namespace ossuring::cli {

namespace {

using simdjson::dom::element;

uint64_t u64(element e, const char* key) {
  uint64_t v = 0;
  if (e[key].get_uint64().get(v) != simdjson::SUCCESS) {
    int64_t i = 0;
    if (e[key].get_int64().get(i) == simdjson::SUCCESS && i > 0) {
      return static_cast<uint64_t>(i);
    }
    return 0;
  }
  return v;
}

double num(element e, const char* key) {
  double v = 0;
  if (e[key].get_double().get(v) == simdjson::SUCCESS) {
    return v;
  }
  return static_cast<double>(u64(e, key));
}

std::string str(element e, const char* key) {
  std::string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) {
    return "";
  }
  return std::string(v);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// A latency in milliseconds, as 0.42 ms, 12.3 ms, 1.20 s.
std::string human_ms(double ms) {
  if (ms >= 1000) {
    return fmt("%.2f s", ms / 1000);
  }
  if (ms >= 10) {
    return fmt("%.1f ms", ms);
  }
  return fmt("%.2f ms", ms);
}

std::string pad(std::string s, size_t width, bool right) {
  if (s.size() >= width) {
    return s;
  }
  std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

std::string human_bytes(uint64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) {
    return std::to_string(n) + " B";
  }
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  const char* f = v >= 100 ? "%.0f " : (v >= 10 ? "%.1f " : "%.2f ");
  return fmt(f, v) + units[u];
}

std::string human_count(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) {
      out += ',';
    }
    out += digits[i];
  }
  return out;
}

std::string percent(uint64_t part, uint64_t whole) {
  if (whole == 0) {
    return "-";
  }
  return fmt("%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string human_duration(uint64_t s) {
  if (s >= 86400) {
    return std::to_string(s / 86400) + " d " + std::to_string(s % 86400 / 3600) + " h";
  }
  if (s >= 3600) {
    return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
  }
  if (s >= 60) {
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  }
  return std::to_string(s) + " s";
}

std::string format_stats(std::string_view json, std::string* error) {
  simdjson::dom::parser parser;
  element root;
  simdjson::padded_string padded(json);
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object()) {
    *error = "the daemon sent malformed JSON";
    return "";
  }
  element mount;
  element fuse;
  element fs;
  element cache;
  element oss;
  if (root["mount"].get(mount) != simdjson::SUCCESS || root["fuse"].get(fuse) ||
      root["fs"].get(fs) || root["cache"].get(cache)) {
    *error = "the daemon's stats lack mount, fuse, fs or cache";
    return "";
  }
  std::string out;
  // Mount.
  out += "mount     oss://" + str(mount, "bucket") + "/" + str(mount, "prefix") + " on " +
         str(mount, "mountpoint") + "\n";
  out += "          " + str(mount, "mode") + " mode, open mode " + str(mount, "open_mode") +
         ", up " + human_duration(u64(mount, "uptime_seconds"));
  if (u64(mount, "restarts") != 0) {
    out += ", " + std::to_string(u64(mount, "restarts")) + " daemon restarts";
  }
  out += "\n";

  // FUSE requests.
  out += "fuse      " + human_count(u64(fuse, "requests")) +
         " requests: " + human_count(u64(fuse, "lookups")) + " lookups, " +
         human_count(u64(fuse, "getattrs")) + " getattrs, " + human_count(u64(fuse, "readdirs")) +
         " readdirs, " + human_count(u64(fuse, "opens")) + " opens\n";
  out += "          " + human_count(u64(fuse, "daemon_reads")) + " reads served by the daemon (" +
         human_bytes(u64(fuse, "daemon_read_bytes")) + ")";
  if (u64(fuse, "passthrough_opens") != 0) {
    out += ", " + human_count(u64(fuse, "passthrough_opens")) + " passthrough opens";
  }
  out += "\n";

  // Cache: fill against its budget, hit rate.
  const uint64_t hits = u64(fs, "blob_hits");
  const uint64_t gets = u64(fs, "get_requests");
  out += "cache     " + human_bytes(u64(cache, "bytes")) + " of " +
         human_bytes(u64(cache, "limit")) + " (" +
         percent(u64(cache, "bytes"), u64(cache, "limit")) + ", " + str(cache, "backend") + "), " +
         human_count(u64(cache, "blobs")) + " blobs, " + human_count(u64(cache, "pinned")) +
         " pinned, " + human_count(u64(cache, "evictions")) + " evictions\n";
  if (const std::string by = str(cache, "limited_by"); !by.empty()) {
    // A limit other than the budget refused a blob (the daemon logged blob_cache_limited).
    out += "          growth stopped by " + by + ", not the budget (docs/semantics.md)\n";
  }
  out += "          hit rate " + percent(hits, hits + gets) + " (" + human_count(hits) + " hits, " +
         human_count(gets) + " GETs)";
  if (u64(fs, "shared_fetch_waits") != 0) {
    out += ", " + human_count(u64(fs, "shared_fetch_waits")) + " reads joined a GET in flight";
  }
  out += "\n";
  out += "          read-ahead " + human_bytes(u64(fs, "buffer_bytes")) + " held, memory limit " +
         human_bytes(u64(cache, "memory_limit"));
  if (u64(fs, "prefetch_gets") != 0) {
    out += ", " + human_count(u64(fs, "prefetch_gets")) + " prefetch GETs";
  }
  out += "\n";

  // Metadata.
  if (str(mount, "mode") == "index") {
    out += "index     " + human_count(u64(fs, "index_nodes")) + " entries, " +
           human_count(u64(fs, "index_refreshes")) + " refreshes, " +
           human_count(u64(fs, "list_requests")) + " LIST requests\n";
  } else {
    const uint64_t neg = u64(fs, "negative_hits");
    out += "metadata  " + human_count(u64(fs, "list_requests")) + " LIST, " +
           human_count(u64(fs, "meta_requests")) + " HEAD requests, " + human_count(neg) +
           " misses answered from the negative cache\n";
  }
  if (u64(fs, "uploads") != 0 || u64(fs, "upload_failures") != 0) {
    out += "writes    " + human_count(u64(fs, "uploads")) + " uploads (" +
           human_bytes(u64(fs, "upload_bytes")) + "), " + human_count(u64(fs, "upload_failures")) +
           " failed\n";
  }

  // OSS requests per API with latency percentiles.
  uint64_t oss_errors = 0;
  if (root["oss"].get(oss) == simdjson::SUCCESS && oss.is_object()) {
    // Every API the client knows is in the document; the table shows the ones used.
    simdjson::dom::object apis = oss.get_object();
    auto used = [](element a) { return u64(a, "requests") != 0 || u64(a, "errors") != 0; };
    size_t rows = 0;
    for (auto field : apis) {
      rows += used(field.value) ? 1 : 0;
    }
    if (rows == 0) {
      out += "oss       no requests\n";
    } else {
      out += "oss       " + pad("api", 22, false) + pad("requests", 10, true) +
             pad("errors", 8, true) + pad("retries", 9, true) + pad("received", 11, true) +
             pad("sent", 11, true) + pad("p50", 10, true) + pad("p99", 10, true) +
             pad("max", 10, true) + "\n";
      for (auto field : apis) {
        element a = field.value;
        if (!used(a)) {
          continue;
        }
        element lat;
        double p50 = 0;
        double p99 = 0;
        double mx = 0;
        if (a["latency_ms"].get(lat) == simdjson::SUCCESS) {
          p50 = num(lat, "p50");
          p99 = num(lat, "p99");
          mx = num(lat, "max");
        }
        oss_errors += u64(a, "errors");
        out += "          " + pad(std::string(field.key), 22, false) +
               pad(human_count(u64(a, "requests")), 10, true) +
               pad(human_count(u64(a, "errors")), 8, true) +
               pad(human_count(u64(a, "retries")), 9, true) +
               pad(human_bytes(u64(a, "bytes_received")), 11, true) +
               pad(human_bytes(u64(a, "bytes_sent")), 11, true) + pad(human_ms(p50), 10, true) +
               pad(human_ms(p99), 10, true) + pad(human_ms(mx), 10, true) + "\n";
      }
    }
  }

  // Errors, together.
  out += "errors    " + human_count(u64(fuse, "errors")) + " FUSE requests answered an error, " +
         human_count(oss_errors) + " failed OSS requests, " + human_count(u64(fs, "interrupted")) +
         " interrupted";
  if (u64(fs, "upload_failures") != 0) {
    out += ", " + human_count(u64(fs, "upload_failures")) + " failed uploads";
  }
  out += "\n";
  return out;
}

}  // namespace ossuring::cli
