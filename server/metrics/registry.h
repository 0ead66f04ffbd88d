#ifndef SANDYQ_SERVER_METRICS_REGISTRY_H_
#define SANDYQ_SERVER_METRICS_REGISTRY_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace sandyq::metrics {

// Metrics in the Prometheus data model, rendered in its text exposition
// format (version 0.0.4) for a scraper (server/metrics/http_exporter.h).
//
// A family is a metric name with help text, a type and label names; each
// combination of label values is one series. Families are registered once
// (registering the same name again with the same type, labels and buckets
// returns the same family, so a function-local static in any file may do it)
// and live as long as their registry.
//
// Cost on the hot path: Counter::Increment, Gauge::Set/Add and
// Histogram::Observe are relaxed atomic operations, no lock and no
// allocation. WithLabels looks its series up under a reader lock without
// allocating; only the first use of a combination allocates. Callers with
// fixed label values can keep the returned reference (it stays valid for the
// registry's lifetime).
//
// Label values must come from small fixed sets (RPC names, status codes,
// policy identities and purposes), never from request data: every new
// combination is a series kept forever. A family refuses to grow past
// `max_series_per_family` series; further combinations all land in one
// series whose every label is "(overflow)", and a warning is logged once.
//
// Misuse that only a code change can cause (an invalid metric or label name,
// the wrong number of label values, one name registered with two different
// shapes) aborts the process with a message: tests catch it at once.
//
// Thread-safe.

// A count that only goes up.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(uint64_t n = 1) {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  // For collectors that mirror a count kept elsewhere (which itself never
  // goes down while the process runs).
  void Set(uint64_t total) { value_.store(total, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down, or is set from elsewhere at scrape time.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets by fixed upper bounds (inclusive, the
// Prometheus "le"), plus an implicit +Inf bucket, with their sum.
class Histogram {
 public:
  // `bounds` (sorted, finite, distinct) must outlive the histogram.
  explicit Histogram(absl::Span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN is ignored.
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (= count)
    double sum = 0;
    uint64_t count = 0;
  };
  // Consistent per bucket; the count is the sum of the buckets.
  Snapshot snapshot() const;

 private:
  const absl::Span<const double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_ + 1
  std::atomic<double> sum_{0.0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// What every family has; the registry renders families through it.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the family (HELP, TYPE and every series) to `out`.
  virtual void Render(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names, size_t max_series)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)),
        max_series_(max_series) {}

  // Aborts unless `values` has one value per label name.
  void CheckArity(size_t values) const;
  void WarnOverflowOnce() const;
  void RenderHeader(std::string& out) const;

  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;

 private:
  mutable std::atomic<bool> warned_{false};
};

namespace internal {

// Heterogeneous hashing, so lookups by string_views never allocate.
struct LabelValuesHash {
  using is_transparent = void;
  size_t operator()(absl::Span<const absl::string_view> values) const;
  size_t operator()(const std::vector<std::string>& values) const;
};
struct LabelValuesEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (absl::string_view(a[i]) != absl::string_view(b[i])) return false;
    }
    return true;
  }
};

// Appends one series of each type to `out` (the exposition format).
void RenderSeries(std::string& out, const FamilyBase& family,
                  const std::vector<std::string>& values, const Counter& c);
void RenderSeries(std::string& out, const FamilyBase& family,
                  const std::vector<std::string>& values, const Gauge& g);
void RenderSeries(std::string& out, const FamilyBase& family,
                  const std::vector<std::string>& values, const Histogram& h);

}  // namespace internal

// The series of one family, by label values. T is Counter, Gauge or
// Histogram.
template <typename T>
class Family final : public FamilyBase {
 public:
  // The series for `values` (one per label name, in order), created on first
  // use: family.WithLabels({"Tokenizer.Tokenize", "OK"}).Increment();
  // For a family without labels: family.WithLabels({}).
  T& WithLabels(absl::Span<const absl::string_view> values) {
    CheckArity(values.size());
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = series_.find(values);
      if (it != series_.end()) return *it->second;
      // Full for good (series are never removed): no writer lock needed.
      if (overflow_ != nullptr) return *overflow_;
    }
    return Create(values);
  }

  // Histogram bucket bounds (empty for other types).
  const std::vector<double>& bounds() const { return bounds_; }

  void Render(std::string& out) const override {
    RenderHeader(out);
    absl::ReaderMutexLock lock(&mu_);
    // Sorted by label values, so scrapes are stable and diffable.
    std::vector<const typename Map::value_type*> sorted;
    sorted.reserve(series_.size());
    for (const auto& entry : series_) sorted.push_back(&entry);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* entry : sorted) {
      internal::RenderSeries(out, *this, entry->first, *entry->second);
    }
    if (overflow_ != nullptr) {
      internal::RenderSeries(
          out, *this,
          std::vector<std::string>(label_names_.size(), "(overflow)"),
          *overflow_);
    }
  }

 private:
  friend class Registry;
  using Map = absl::flat_hash_map<std::vector<std::string>, std::unique_ptr<T>,
                                  internal::LabelValuesHash,
                                  internal::LabelValuesEq>;

  Family(std::string name, std::string help, MetricType type,
         std::vector<std::string> label_names, size_t max_series,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), type,
                   std::move(label_names), max_series),
        bounds_(std::move(bounds)) {}

  std::unique_ptr<T> NewSeries() const {
    if constexpr (std::is_same_v<T, Histogram>) {
      return std::make_unique<T>(bounds_);
    } else {
      return std::make_unique<T>();
    }
  }

  T& Create(absl::Span<const absl::string_view> values) {
    absl::WriterMutexLock lock(&mu_);
    if (auto it = series_.find(values); it != series_.end()) {
      return *it->second;  // created meanwhile
    }
    if (series_.size() >= max_series_) {
      WarnOverflowOnce();
      if (overflow_ == nullptr) overflow_ = NewSeries();
      return *overflow_;
    }
    std::vector<std::string> key(values.begin(), values.end());
    return *series_.emplace(std::move(key), NewSeries()).first->second;
  }

  const std::vector<double> bounds_;  // histograms only
  mutable absl::Mutex mu_;
  Map series_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<T> overflow_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Bucket bounds for latencies in seconds, 100 µs to 10 s.
std::vector<double> LatencyBuckets();
// Bounds 1, 2, 4, ... up to at least `max`, for sizes and counts.
std::vector<double> PowersOfTwoBuckets(double max);

class Registry {
 public:
  explicit Registry(size_t max_series_per_family = 1000);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in
  // "_total", and units go into the name ("_seconds", "_bytes"). Label names
  // match [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__".
  CounterFamily& AddCounter(absl::string_view name, absl::string_view help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(absl::string_view name, absl::string_view help,
                        std::vector<std::string> label_names = {});
  // `bounds`: sorted, finite, distinct upper bounds; "le" is no label name.
  HistogramFamily& AddHistogram(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names,
                                std::vector<double> bounds);

  // Runs a collector at the start of every Render, e.g. to set gauges read
  // from elsewhere (storage statistics) only when someone looks. Removed
  // when the handle is destroyed; destroying it waits for a running
  // collector to return, so the collector may use anything that outlives
  // its handle.
  class CollectorHandle {
   public:
    CollectorHandle() = default;
    CollectorHandle(CollectorHandle&& other) noexcept
        : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
    CollectorHandle& operator=(CollectorHandle&& other) noexcept;
    ~CollectorHandle() { Reset(); }
    void Reset();

   private:
    friend class Registry;
    CollectorHandle(Registry* registry, uint64_t id)
        : registry_(registry), id_(id) {}
    Registry* registry_ = nullptr;
    uint64_t id_ = 0;
  };
  [[nodiscard]] CollectorHandle AddCollector(std::function<void()> collect);

  // Runs the collectors, then renders every family, sorted by name, in the
  // Prometheus text format 0.0.4. Scrapes are serialized.
  std::string Render();

 private:
  template <typename T>
  Family<T>& Add(absl::string_view name, absl::string_view help,
                 MetricType type, std::vector<std::string> label_names,
                 std::vector<double> bounds);

  const size_t max_series_per_family_;

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_
      ABSL_GUARDED_BY(mu_);

  // Held while collectors run (and so by Render throughout).
  absl::Mutex collect_mu_;
  uint64_t next_collector_id_ ABSL_GUARDED_BY(collect_mu_) = 1;
  std::map<uint64_t, std::function<void()>> collectors_
      ABSL_GUARDED_BY(collect_mu_);
};

// The process-wide registry that sandyqd's /metrics serves. Never destroyed.
// Code anywhere may register a family in it and count, in one statement:
//   metrics::DefaultRegistry()
//       .AddCounter("sandyq_access_alarms_total", "Bulk-extraction alarms.",
//                   {"identity", "kind"})
//       .WithLabels({principal.identity, "denials"})
//       .Increment();
// (AddCounter costs a map lookup under a mutex: on a hot path keep the family
// in a function-local static reference instead.) Tests that need exact
// values use a Registry of their own.
Registry& DefaultRegistry();

// The exposition format's escaping: label values escape backslash, double
// quote and newline; HELP text escapes backslash and newline. Bytes that are
// not valid UTF-8 become U+FFFD so one bad value cannot spoil a scrape.
std::string EscapeLabelValue(absl::string_view value);
std::string EscapeHelp(absl::string_view help);
// A sample value: the shortest decimal that reads back as `value`, plain
// from 1e-4 to 1e21 and in exponent form outside; "+Inf", "-Inf" or "NaN".
std::string FormatValue(double value);

}  // namespace sandyq::metrics

#endif  // SANDYQ_SERVER_METRICS_REGISTRY_H_
