// Metrics: shard assignment, bucket arithmetic, percentile estimates, observed metrics and the
// Prometheus and JSON renderings.
#include "core/metrics.hh"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace ossuring {

namespace detail {

size_t metrics_shard() noexcept {
  static std::atomic<size_t> next{0};
  thread_local size_t idx = [] {
    size_t i = next.fetch_add(1, std::memory_order_relaxed);
    return i < max_shards ? i : overflow_shard;
  }();
  return idx;
}

}  // namespace detail

uint64_t counter::value() const noexcept {
  int64_t sum = 0;
  _shards.for_each(
      [&](const detail::scalar_shard& s) { sum += s.value.load(std::memory_order_relaxed); });
  return static_cast<uint64_t>(sum);
}

int64_t gauge::value() const noexcept {
  int64_t sum = 0;
  _shards.for_each(
      [&](const detail::scalar_shard& s) { sum += s.value.load(std::memory_order_relaxed); });
  return sum;
}

// Values below 2^sub_bits get a bucket each; above, each power of two [2^e, 2^(e+1)) is split
// into 2^sub_bits equal buckets.
size_t histogram::bucket_of(uint64_t v) noexcept {
  constexpr uint64_t sub = uint64_t{1} << sub_bits;
  if (v < sub) {
    return static_cast<size_t>(v);
  }
  unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;
  return ((e - sub_bits + 1) << sub_bits) + static_cast<size_t>((v >> (e - sub_bits)) & (sub - 1));
}

uint64_t histogram::bucket_lower(size_t idx) noexcept {
  constexpr size_t sub = size_t{1} << sub_bits;
  if (idx < sub) {
    return idx;
  }
  unsigned e = static_cast<unsigned>(idx >> sub_bits) + sub_bits - 1;
  return (sub + (idx & (sub - 1))) << (e - sub_bits);
}

uint64_t histogram::bucket_upper(size_t idx) noexcept {
  if (idx + 1 >= bucket_count) {
    return UINT64_MAX;
  }
  return bucket_lower(idx + 1) - 1;
}

void histogram::record(uint64_t v) noexcept {
  size_t idx = detail::metrics_shard();
  bool shared = idx == detail::overflow_shard;
  shard& s = _shards.local(idx);
  detail::bump(s.count, 1, shared);
  detail::bump(s.sum, static_cast<int64_t>(v), shared);
  detail::bump(s.buckets[bucket_of(v)], 1, shared);
  int64_t sv = static_cast<int64_t>(v);
  int64_t cur = s.max.load(std::memory_order_relaxed);
  if (shared) {
    while (sv > cur && !s.max.compare_exchange_weak(cur, sv, std::memory_order_relaxed)) {
    }
  } else if (sv > cur) {
    s.max.store(sv, std::memory_order_relaxed);
  }
}

histogram_snapshot histogram::snapshot() const {
  histogram_snapshot out;
  out.buckets.assign(bucket_count, 0);
  _shards.for_each([&](const shard& s) {
    out.count += static_cast<uint64_t>(s.count.load(std::memory_order_relaxed));
    out.sum += static_cast<uint64_t>(s.sum.load(std::memory_order_relaxed));
    uint64_t m = static_cast<uint64_t>(s.max.load(std::memory_order_relaxed));
    out.max = m > out.max ? m : out.max;
    for (size_t i = 0; i < bucket_count; ++i) {
      out.buckets[i] += static_cast<uint64_t>(s.buckets[i].load(std::memory_order_relaxed));
    }
  });
  return out;
}

uint64_t histogram_snapshot::percentile(double q) const noexcept {
  uint64_t total = 0;
  for (uint64_t b : buckets) {
    total += b;
  }
  if (total == 0) {
    return 0;
  }
  if (q >= 1) {
    return max;
  }
  q = q < 0 ? 0 : q;
  // Rank of the wanted sample, 1-based: the smallest r with r >= q * total.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  rank = rank == 0 ? 1 : rank;
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      uint64_t lo = histogram::bucket_lower(i);
      uint64_t hi = histogram::bucket_upper(i);
      uint64_t mid = lo + (hi - lo) / 2;
      return mid < max ? mid : max;
    }
  }
  return max;
}

namespace {

void append_escaped(std::string& out, std::string_view s, bool json) {
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (json && static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
}

std::string format_number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

// `{a="x",b="y"}` with an optional extra label (quantile); empty when there are none.
std::string prom_labels(const metric_labels& labels, std::string_view extra_key = {},
                        std::string_view extra_value = {}) {
  if (labels.empty() && extra_key.empty()) {
    return {};
  }
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    s += first ? "" : ",";
    first = false;
    s += k;
    s += "=\"";
    append_escaped(s, v, false);
    s += '"';
  }
  if (!extra_key.empty()) {
    s += first ? "" : ",";
    s += extra_key;
    s += "=\"";
    s += extra_value;
    s += '"';
  }
  s += '}';
  return s;
}

const char* kind_name(metric_kind k) {
  switch (k) {
    case metric_kind::counter:
      return "counter";
    case metric_kind::gauge:
      return "gauge";
    case metric_kind::histogram:
      return "histogram";
  }
  return "untyped";
}

constexpr std::pair<const char*, double> exposed_quantiles[] = {
    {"0.5", 0.5}, {"0.9", 0.9}, {"0.99", 0.99}, {"1", 1.0}};

// The JSON document render_json builds: members in the order first named.
struct json_node {
  struct member {
    std::string key;
    std::string leaf;  // JSON text when `child` is null
    std::unique_ptr<json_node> child;
  };
  std::vector<member> members;

  member& at(std::string_view key) {
    for (member& m : members) {
      if (m.key == key) {
        return m;
      }
    }
    members.push_back({std::string(key), {}, nullptr});
    return members.back();
  }
  // Places `json` at the path made of `segments`; a later value replaces an earlier one.
  void set(std::span<const std::string> segments, std::string json) {
    json_node* node = this;
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      member& m = node->at(segments[i]);
      if (!m.child) {
        m.child = std::make_unique<json_node>();
      }
      node = m.child.get();
    }
    member& m = node->at(segments.back());
    m.child.reset();
    m.leaf = std::move(json);
  }
  void write(std::string& out) const {
    out += '{';
    bool first = true;
    for (const member& m : members) {
      out += first ? "\"" : ",\"";
      first = false;
      append_escaped(out, m.key, true);
      out += "\":";
      if (m.child) {
        m.child->write(out);
      } else {
        out += m.leaf;
      }
    }
    out += '}';
  }
};

// "a.b.c" as its segments.
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t dot = path.find('.', pos);
    out.emplace_back(path.substr(pos, dot == std::string_view::npos ? dot : dot - pos));
    if (dot == std::string_view::npos) {
      return out;
    }
    pos = dot + 1;
  }
}

}  // namespace

metrics_registry::entry& metrics_registry::find_or_add(std::string_view name, metric_labels& labels,
                                                       std::string_view help, metric_kind kind) {
  for (auto& e : _entries) {
    if (e->name != name) {
      continue;
    }
    if (e->kind != kind) {
      throw std::logic_error("metric " + std::string(name) + " registered as " +
                             kind_name(e->kind) + ", asked for as " + kind_name(kind));
    }
    if (e->labels == labels) {
      return *e;
    }
  }
  auto e = std::make_unique<entry>();
  e->name = std::string(name);
  e->labels = std::move(labels);
  e->help = std::string(help);
  e->kind = kind;
  _entries.push_back(std::move(e));
  return *_entries.back();
}

counter& metrics_registry::get_counter(std::string_view name, metric_labels labels,
                                       std::string_view help) {
  std::lock_guard lock(_mutex);
  entry& e = find_or_add(name, labels, help, metric_kind::counter);
  if (e.read) {
    throw std::logic_error("metric " + std::string(name) + " is observed, not counted");
  }
  if (!e.c) {
    e.c = std::make_unique<counter>();
  }
  return *e.c;
}

gauge& metrics_registry::get_gauge(std::string_view name, metric_labels labels,
                                   std::string_view help) {
  std::lock_guard lock(_mutex);
  entry& e = find_or_add(name, labels, help, metric_kind::gauge);
  if (e.read) {
    throw std::logic_error("metric " + std::string(name) + " is observed, not set");
  }
  if (!e.g) {
    e.g = std::make_unique<gauge>();
  }
  return *e.g;
}

histogram& metrics_registry::get_histogram(std::string_view name, metric_labels labels,
                                           std::string_view help, double scale) {
  std::lock_guard lock(_mutex);
  entry& e = find_or_add(name, labels, help, metric_kind::histogram);
  if (!e.h) {
    e.h = std::make_unique<histogram>();
    e.scale = scale;
  }
  return *e.h;
}

metric_handle metrics_registry::observe(std::string_view name, metric_labels& labels,
                                        std::string_view help, metric_kind kind,
                                        std::function<int64_t()> read) {
  std::lock_guard lock(_mutex);
  entry& e = find_or_add(name, labels, help, kind);
  if (e.read || e.c || e.g) {
    throw std::logic_error("metric " + std::string(name) + " registered twice");
  }
  e.read = std::move(read);
  return metric_handle(this, &e);
}

metric_handle metrics_registry::observe_counter(std::string_view name, metric_labels labels,
                                                std::string_view help,
                                                std::function<uint64_t()> read) {
  return observe(name, labels, help, metric_kind::counter,
                 [read = std::move(read)] { return static_cast<int64_t>(read()); });
}

metric_handle metrics_registry::observe_gauge(std::string_view name, metric_labels labels,
                                              std::string_view help,
                                              std::function<int64_t()> read) {
  return observe(name, labels, help, metric_kind::gauge, std::move(read));
}

void metrics_registry::remove(const void* gone) noexcept {
  std::lock_guard lock(_mutex);
  std::erase_if(_entries, [gone](const std::unique_ptr<entry>& e) { return e.get() == gone; });
}

metric_handle& metric_handle::operator=(metric_handle&& o) noexcept {
  if (this != &o) {
    reset();
    _reg = std::exchange(o._reg, nullptr);
    _entry = o._entry;
  }
  return *this;
}

void metric_handle::reset() noexcept {
  if (_reg != nullptr) {
    std::exchange(_reg, nullptr)->remove(_entry);
  }
}

std::string metrics_registry::render_prometheus() const {
  std::lock_guard lock(_mutex);
  std::string out;
  std::vector<bool> done(_entries.size(), false);
  for (size_t i = 0; i < _entries.size(); ++i) {
    if (done[i]) {
      continue;
    }
    const entry& head = *_entries[i];
    if (!head.help.empty()) {
      out += "# HELP " + head.name + " ";
      append_escaped(out, head.help, false);
      out += '\n';
    }
    out += "# TYPE " + head.name + " " +
           (head.kind == metric_kind::histogram ? "summary" : kind_name(head.kind)) + "\n";
    for (size_t j = i; j < _entries.size(); ++j) {
      const entry& e = *_entries[j];
      if (e.name != head.name) {
        continue;
      }
      done[j] = true;
      if (e.read) {
        out += e.name + prom_labels(e.labels) + " " + std::to_string(e.read()) + "\n";
      } else if (e.c) {
        out += e.name + prom_labels(e.labels) + " " + std::to_string(e.c->value()) + "\n";
      } else if (e.g) {
        out += e.name + prom_labels(e.labels) + " " + std::to_string(e.g->value()) + "\n";
      } else if (e.h) {
        histogram_snapshot s = e.h->snapshot();
        for (const auto& [label, q] : exposed_quantiles) {
          out += e.name + prom_labels(e.labels, "quantile", label) + " " +
                 format_number(static_cast<double>(s.percentile(q)) * e.scale) + "\n";
        }
        out += e.name + "_sum" + prom_labels(e.labels) + " " +
               format_number(static_cast<double>(s.sum) * e.scale) + "\n";
        out += e.name + "_count" + prom_labels(e.labels) + " " + std::to_string(s.count) + "\n";
      }
    }
  }
  return out;
}

std::string metrics_registry::render_json(std::span<const json_field> layout,
                                          std::span<const json_member> extra) const {
  json_node doc;
  for (const json_member& m : extra) {
    doc.set(split_path(m.path), m.json);
  }
  std::lock_guard lock(_mutex);
  for (const auto& ep : _entries) {
    const entry& e = *ep;
    const json_field* place = nullptr;
    for (const json_field& f : layout) {
      if (f.metric == e.name) {
        place = &f;
        break;
      }
    }
    if (place == nullptr) {
      continue;
    }
    std::vector<std::string> segments = split_path(place->path);
    bool labelled = true;
    for (std::string& seg : segments) {
      if (seg.size() < 2 || seg.front() != '{' || seg.back() != '}') {
        continue;
      }
      std::string_view key = std::string_view(seg).substr(1, seg.size() - 2);
      auto it = std::find_if(e.labels.begin(), e.labels.end(),
                             [&](const auto& l) { return l.first == key; });
      if (it == e.labels.end()) {
        labelled = false;
        break;
      }
      seg = it->second;
    }
    if (!labelled) {
      continue;
    }
    std::string value;
    if (e.read) {
      value = std::to_string(e.read());
    } else if (e.c) {
      value = std::to_string(e.c->value());
    } else if (e.g) {
      value = std::to_string(e.g->value());
    } else if (e.h) {
      const histogram_snapshot s = e.h->snapshot();
      const double k = place->scale;
      value = "{\"count\":" + std::to_string(s.count) +
              ",\"sum\":" + format_number(static_cast<double>(s.sum) * k) +
              ",\"p50\":" + format_number(static_cast<double>(s.percentile(0.5)) * k) +
              ",\"p90\":" + format_number(static_cast<double>(s.percentile(0.9)) * k) +
              ",\"p99\":" + format_number(static_cast<double>(s.percentile(0.99)) * k) +
              ",\"max\":" + format_number(static_cast<double>(s.max) * k) + "}";
    } else {
      continue;  // registered and never materialised
    }
    doc.set(segments, std::move(value));
  }
  std::string out;
  doc.write(out);
  return out;
}

metrics_registry& metrics() {
  static metrics_registry r;
  return r;
}

}  // namespace ossuring
