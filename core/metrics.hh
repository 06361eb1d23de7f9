// Metrics: counters, gauges and latency histograms kept per thread (= per reactor), summed on read.
//
// Hot path: each writing thread owns one shard of every metric it touches, so an update is a
// relaxed load and a relaxed store of the thread's own cell (single writer, no read-modify-write
// atomics, no shared cache lines). A reader on any thread sums the shards with relaxed loads; the
// sum is a moment's snapshot, never torn per cell. Threads past `max_shards` share one overflow
// shard updated with fetch_add.
//
// Metrics are registered once by name and labels (e.g. api="GetObject"); registration takes a
// lock and returns a reference that stays valid for the life of the process, to be cached by the
// caller. Histograms bucket values log-linearly (8 sub-buckets per power of two, so an estimated
// percentile is within 12.5% of the truth); `max` is exact. A count kept elsewhere (a file
// system's counters, a cache's fill) is registered as an observed metric: read from its owner
// when rendered, removed when its handle dies.
//
// The registry is the one renderer of every metric: Prometheus text for the metrics endpoint,
// and a JSON document laid out by the caller (`ossuring stats`). docs/metrics.md lists them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ossuring {

using metric_labels = std::vector<std::pair<std::string, std::string>>;

namespace detail {

constexpr size_t max_shards = 64;
constexpr size_t overflow_shard = max_shards;  // shared by threads past max_shards
// The calling thread's shard index, assigned on first use.
size_t metrics_shard() noexcept;

// Single-writer cell update: load + store, no locked instruction.
inline void bump(std::atomic<int64_t>& cell, int64_t n, bool shared) noexcept {
  if (shared) {
    cell.fetch_add(n, std::memory_order_relaxed);
  } else {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
}

// Lazily allocated per-shard storage of type S; a shard is created by its own thread.
template <typename S>
class sharded {
 public:
  sharded() = default;
  sharded(const sharded&) = delete;
  sharded& operator=(const sharded&) = delete;
  ~sharded() {
    for (auto& p : _shards) {
      delete p.load(std::memory_order_relaxed);
    }
  }
  S& local(size_t idx) {
    S* s = _shards[idx].load(std::memory_order_acquire);
    if (!s) {
      s = make(idx);
    }
    return *s;
  }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& p : _shards) {
      if (const S* s = p.load(std::memory_order_acquire)) {
        f(*s);
      }
    }
  }

 private:
  S* make(size_t idx) {
    S* fresh = new S();
    S* expected = nullptr;
    if (!_shards[idx].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
      delete fresh;  // only the overflow shard can race
      return expected;
    }
    return fresh;
  }
  std::array<std::atomic<S*>, max_shards + 1> _shards{};
};

struct alignas(64) scalar_shard {
  std::atomic<int64_t> value{0};
};

}  // namespace detail

// A monotonically increasing count (requests, bytes, errors).
class counter {
 public:
  void add(uint64_t n = 1) noexcept {
    size_t idx = detail::metrics_shard();
    detail::bump(_shards.local(idx).value, static_cast<int64_t>(n), idx == detail::overflow_shard);
  }
  uint64_t value() const noexcept;

 private:
  detail::sharded<detail::scalar_shard> _shards;
};

// A level that goes up and down (open handles, cached bytes).
class gauge {
 public:
  void add(int64_t n) noexcept {
    size_t idx = detail::metrics_shard();
    detail::bump(_shards.local(idx).value, n, idx == detail::overflow_shard);
  }
  void sub(int64_t n) noexcept { add(-n); }
  int64_t value() const noexcept;

 private:
  detail::sharded<detail::scalar_shard> _shards;
};

// A summed view of a histogram at one moment.
struct histogram_snapshot {
  uint64_t count = 0;
  uint64_t sum = 0;
  uint64_t max = 0;
  std::vector<uint64_t> buckets;  // per-bucket counts, index as histogram::bucket_of

  // Estimated value at quantile q in [0, 1]: the midpoint of the bucket holding that rank,
  // clamped to the exact maximum. 0 when empty.
  uint64_t percentile(double q) const noexcept;
};

// Distribution of non-negative values; latencies are recorded in nanoseconds.
class histogram {
 public:
  static constexpr unsigned sub_bits = 3;  // 2^3 linear sub-buckets per power of two
  static constexpr size_t bucket_count = (64 - sub_bits + 1) << sub_bits;

  static size_t bucket_of(uint64_t v) noexcept;
  static uint64_t bucket_lower(size_t idx) noexcept;
  static uint64_t bucket_upper(size_t idx) noexcept;  // inclusive

  void record(uint64_t v) noexcept;
  void record(std::chrono::nanoseconds d) noexcept {
    record(static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()));
  }
  histogram_snapshot snapshot() const;

 private:
  struct shard {
    std::atomic<int64_t> count{0};
    std::atomic<int64_t> sum{0};
    std::atomic<int64_t> max{0};
    std::array<std::atomic<int64_t>, bucket_count> buckets{};
  };
  detail::sharded<shard> _shards;
};

enum class metric_kind { counter, gauge, histogram };

class metrics_registry;

// Keeps an observed metric registered; removes it when destroyed (before what it reads dies).
class metric_handle {
 public:
  metric_handle() = default;
  metric_handle(metric_handle&& o) noexcept : _reg(o._reg), _entry(o._entry) { o._reg = nullptr; }
  metric_handle& operator=(metric_handle&& o) noexcept;
  metric_handle(const metric_handle&) = delete;
  metric_handle& operator=(const metric_handle&) = delete;
  ~metric_handle() { reset(); }
  void reset() noexcept;

 private:
  friend class metrics_registry;
  metric_handle(metrics_registry* reg, const void* entry) : _reg(reg), _entry(entry) {}

  metrics_registry* _reg = nullptr;
  const void* _entry = nullptr;
};

// Where a metric appears in a JSON document (metrics_registry::render_json): `path` is dotted,
// and a segment in braces names a label whose value becomes the key ("oss.{api}.requests").
// Counters and gauges are numbers there; a histogram is {"count","sum","p50","p90","p99","max"}
// with recorded values times `scale` (1e-6: milliseconds from nanoseconds).
struct json_field {
  std::string_view metric;
  std::string_view path;
  double scale = 1;
};
// A member of that document which is not a metric (a name, a flag, a list): a dotted path and
// its JSON text.
struct json_member {
  std::string path;
  std::string json;
};

// The process's named metrics. Registration is rare and locked; updates go to the metric itself.
class metrics_registry {
 public:
  // Returns the metric with this name and labels, creating it on first use. `help` is kept from
  // the first registration. Asking for an existing name with a different kind throws
  // std::logic_error (a programming error, found at start-up).
  counter& get_counter(std::string_view name, metric_labels labels = {},
                       std::string_view help = {});
  gauge& get_gauge(std::string_view name, metric_labels labels = {}, std::string_view help = {});
  // `scale` converts recorded values to the exposed unit: 1e-9 turns nanoseconds into the
  // seconds Prometheus expects of a `_seconds` metric.
  histogram& get_histogram(std::string_view name, metric_labels labels = {},
                           std::string_view help = {}, double scale = 1e-9);
  // A counter or gauge whose value `read` returns when rendered (under the registry's lock:
  // `read` must not call the registry). Registering the same name and labels twice while the
  // first handle lives throws std::logic_error.
  [[nodiscard]] metric_handle observe_counter(std::string_view name, metric_labels labels,
                                              std::string_view help,
                                              std::function<uint64_t()> read);
  [[nodiscard]] metric_handle observe_gauge(std::string_view name, metric_labels labels,
                                            std::string_view help, std::function<int64_t()> read);

  // Prometheus text exposition (version 0.0.4): counters and gauges as such, histograms as
  // summaries with quantiles 0.5/0.9/0.99/1 plus _sum and _count.
  std::string render_prometheus() const;
  // One JSON object: the members in `extra` first, then, in registration order, every metric
  // `layout` places (others are left out); objects are created in the order first named, so
  // an extra member whose text is "{}" reserves an object's place for the metrics put in it.
  std::string render_json(std::span<const json_field> layout,
                          std::span<const json_member> extra = {}) const;

 private:
  struct entry {
    std::string name;
    metric_labels labels;
    std::string help;
    metric_kind kind;
    double scale = 1;
    std::unique_ptr<counter> c;
    std::unique_ptr<gauge> g;
    std::unique_ptr<histogram> h;
    std::function<int64_t()> read;  // observed metrics
  };
  friend class metric_handle;
  entry& find_or_add(std::string_view name, metric_labels& labels, std::string_view help,
                     metric_kind kind);
  metric_handle observe(std::string_view name, metric_labels& labels, std::string_view help,
                        metric_kind kind, std::function<int64_t()> read);
  void remove(const void* entry) noexcept;

  mutable std::mutex _mutex;
  std::vector<std::unique_ptr<entry>> _entries;  // registration order; names grouped on render
};

// The process-wide registry.
metrics_registry& metrics();

}  // namespace ossuring
