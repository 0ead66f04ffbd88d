#include "server/metrics/registry.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/platform/log.h"

namespace sandyq::metrics {
namespace {

// Misuse only a code change can cause: say what, and stop.
[[noreturn]] void Die(absl::string_view message) {
  std::cerr << "sandyqd: metrics: " << message << std::endl;
  std::abort();
}

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(static_cast<unsigned char>(c)) ||
                    c == '_' || (allow_colon && c == ':') ||
                    (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t min;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::string Escape(absl::string_view in, bool quote) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    const char c = in[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      const size_t n = Utf8SequenceLength(in, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
        continue;
      }
      out.append(in.data() + i, n);
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}

// Appends `name{l1="v1",...,extra_name="extra_value"} `.
void AppendSeriesName(std::string& out, absl::string_view name,
                      absl::string_view suffix,
                      const std::vector<std::string>& label_names,
                      const std::vector<std::string>& values,
                      absl::string_view extra_name = "",
                      absl::string_view extra_value = "") {
  absl::StrAppend(&out, name, suffix);
  if (!label_names.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (size_t i = 0; i < label_names.size(); ++i) {
      if (!first) out += ',';
      first = false;
      absl::StrAppend(&out, label_names[i], "=\"", EscapeLabelValue(values[i]),
                      "\"");
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      absl::StrAppend(&out, extra_name, "=\"", extra_value, "\"");
    }
    out += '}';
  }
  out += ' ';
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  return Escape(value, /*quote=*/true);
}

std::string EscapeHelp(absl::string_view help) {
  return Escape(help, /*quote=*/false);
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Plain decimals in the usual range, so that bucket bounds read (and are
  // selected in PromQL) as written: le="0.0001", le="65536".
  const double magnitude = std::fabs(value);
  const std::chars_format format =
      value == 0 || (magnitude >= 1e-4 && magnitude < 1e21)
          ? std::chars_format::fixed
          : std::chars_format::scientific;
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, format);
  if (ec != std::errc()) return absl::StrCat(value);
  return std::string(buf, end);
}

// --- Histogram ----------------------------------------------------------------

Histogram::Histogram(absl::Span<const double> bounds)
    : bounds_(bounds),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // The first bound >= value ("le"); past the last: the +Inf bucket.
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// --- Families -----------------------------------------------------------------

void FamilyBase::CheckArity(size_t values) const {
  if (values != label_names_.size()) {
    Die(absl::StrCat(name_, ": ", values, " label values for ",
                     label_names_.size(), " labels (",
                     absl::StrJoin(label_names_, ","), ")"));
  }
}

void FamilyBase::WarnOverflowOnce() const {
  if (!warned_.exchange(true)) {
    platform::LogWarning(absl::StrCat(
        "metrics: ", name_, " has ", max_series_,
        " series; further label combinations are counted as \"(overflow)\""));
  }
}

void FamilyBase::RenderHeader(std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n",
                  "# TYPE ", name_, " ", TypeName(type_), "\n");
}

namespace internal {

size_t LabelValuesHash::operator()(
    absl::Span<const absl::string_view> values) const {
  size_t h = values.size();
  for (absl::string_view v : values) {
    h = absl::Hash<std::pair<size_t, absl::string_view>>{}({h, v});
  }
  return h;
}

size_t LabelValuesHash::operator()(const std::vector<std::string>& values) const {
  size_t h = values.size();
  for (const std::string& v : values) {
    h = absl::Hash<std::pair<size_t, absl::string_view>>{}({h, v});
  }
  return h;
}

void RenderSeries(std::string& out, const FamilyBase& family,
                  const std::vector<std::string>& values, const Counter& c) {
  AppendSeriesName(out, family.name(), "", family.label_names(), values);
  absl::StrAppend(&out, c.value(), "\n");
}

void RenderSeries(std::string& out, const FamilyBase& family,
                  const std::vector<std::string>& values, const Gauge& g) {
  AppendSeriesName(out, family.name(), "", family.label_names(), values);
  absl::StrAppend(&out, FormatValue(g.value()), "\n");
}

void RenderSeries(std::string& out, const FamilyBase& family,
                  const std::vector<std::string>& values, const Histogram& h) {
  const auto& bounds = static_cast<const HistogramFamily&>(family).bounds();
  const Histogram::Snapshot s = h.snapshot();
  for (size_t i = 0; i <= bounds.size(); ++i) {
    AppendSeriesName(out, family.name(), "_bucket", family.label_names(),
                     values, "le",
                     i < bounds.size() ? FormatValue(bounds[i]) : "+Inf");
    absl::StrAppend(&out, s.cumulative[i], "\n");
  }
  AppendSeriesName(out, family.name(), "_sum", family.label_names(), values);
  absl::StrAppend(&out, FormatValue(s.sum), "\n");
  AppendSeriesName(out, family.name(), "_count", family.label_names(), values);
  absl::StrAppend(&out, s.count, "\n");
}

}  // namespace internal

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
}

std::vector<double> PowersOfTwoBuckets(double max) {
  std::vector<double> bounds = {1};
  while (bounds.back() < max) bounds.push_back(bounds.back() * 2);
  return bounds;
}

// --- Registry -----------------------------------------------------------------

Registry::Registry(size_t max_series_per_family)
    : max_series_per_family_(max_series_per_family) {}

Registry::~Registry() = default;

template <typename T>
Family<T>& Registry::Add(absl::string_view name, absl::string_view help,
                         MetricType type, std::vector<std::string> label_names,
                         std::vector<double> bounds) {
  if (!ValidName(name, /*allow_colon=*/true)) {
    Die(absl::StrCat("invalid metric name \"", name, "\""));
  }
  for (const std::string& label : label_names) {
    if (!ValidName(label, /*allow_colon=*/false) ||
        absl::StartsWith(label, "__") ||
        (type == MetricType::kHistogram && label == "le")) {
      Die(absl::StrCat(name, ": invalid label name \"", label, "\""));
    }
  }
  if (type == MetricType::kHistogram) {
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        Die(absl::StrCat(name, ": bucket bounds must be finite and increasing"));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* existing = dynamic_cast<Family<T>*>(it->second.get());
    if (existing == nullptr || existing->type() != type ||
        existing->label_names() != label_names ||
        existing->bounds() != bounds) {
      Die(absl::StrCat(name, ": registered twice with different shapes"));
    }
    return *existing;
  }
  auto* family = new Family<T>(std::string(name), std::string(help), type,
                               std::move(label_names), max_series_per_family_,
                               std::move(bounds));
  families_.emplace(std::string(name), std::unique_ptr<FamilyBase>(family));
  return *family;
}

CounterFamily& Registry::AddCounter(absl::string_view name,
                                    absl::string_view help,
                                    std::vector<std::string> label_names) {
  return Add<Counter>(name, help, MetricType::kCounter, std::move(label_names),
                      {});
}

GaugeFamily& Registry::AddGauge(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names) {
  return Add<Gauge>(name, help, MetricType::kGauge, std::move(label_names), {});
}

HistogramFamily& Registry::AddHistogram(absl::string_view name,
                                        absl::string_view help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  return Add<Histogram>(name, help, MetricType::kHistogram,
                        std::move(label_names), std::move(bounds));
}

Registry::CollectorHandle& Registry::CollectorHandle::operator=(
    CollectorHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void Registry::CollectorHandle::Reset() {
  if (registry_ == nullptr) return;
  absl::MutexLock lock(&registry_->collect_mu_);
  registry_->collectors_.erase(id_);
  registry_ = nullptr;
}

Registry::CollectorHandle Registry::AddCollector(std::function<void()> collect) {
  absl::MutexLock lock(&collect_mu_);
  const uint64_t id = next_collector_id_++;
  collectors_.emplace(id, std::move(collect));
  return CollectorHandle(this, id);
}

std::string Registry::Render() {
  absl::MutexLock collect_lock(&collect_mu_);
  for (auto& [id, collect] : collectors_) collect();
  // Families are never removed, so their pointers outlive the lock.
  std::vector<const FamilyBase*> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  std::string out;
  for (const FamilyBase* family : families) family->Render(out);
  return out;
}

Registry& DefaultRegistry() {
  static Registry* const registry = new Registry();
  return *registry;
}

}  // namespace sandyq::metrics
