#include "server/metrics/registry.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandyq::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CounterTest, RendersHelpTypeAndValue) {
  Registry registry;
  CounterFamily& calls =
      registry.AddCounter("sandyq_test_total", "Calls made.");
  calls.WithLabels({}).Increment();
  calls.WithLabels({}).Increment(41);
  EXPECT_EQ(registry.Render(),
            "# HELP sandyq_test_total Calls made.\n"
            "# TYPE sandyq_test_total counter\n"
            "sandyq_test_total 42\n");
}

TEST(CounterTest, SeriesAreRenderedInLabelOrderWithTheirLabels) {
  Registry registry;
  CounterFamily& calls =
      registry.AddCounter("calls_total", "Calls.", {"rpc", "code"});
  calls.WithLabels({"b", "OK"}).Increment(2);
  calls.WithLabels({"a", "OK"}).Increment();
  calls.WithLabels({"a", "INTERNAL"}).Increment(3);
  EXPECT_EQ(registry.Render(),
            "# HELP calls_total Calls.\n"
            "# TYPE calls_total counter\n"
            "calls_total{rpc=\"a\",code=\"INTERNAL\"} 3\n"
            "calls_total{rpc=\"a\",code=\"OK\"} 1\n"
            "calls_total{rpc=\"b\",code=\"OK\"} 2\n");
}

TEST(CounterTest, AFamilyWithoutSeriesShowsOnlyItsHeader) {
  Registry registry;
  registry.AddCounter("unused_total", "Never counted.", {"kind"});
  EXPECT_EQ(registry.Render(),
            "# HELP unused_total Never counted.\n"
            "# TYPE unused_total counter\n");
}

TEST(CounterTest, WithLabelsReturnsTheSameSeriesEveryTime) {
  Registry registry;
  CounterFamily& calls = registry.AddCounter("c_total", "C.", {"k"});
  Counter& first = calls.WithLabels({"x"});
  std::string key = "x";  // a different buffer with the same value
  EXPECT_EQ(&calls.WithLabels({key}), &first);
  EXPECT_NE(&calls.WithLabels({"y"}), &first);
}

TEST(RegistryTest, FamiliesAreRenderedSortedByName) {
  Registry registry;
  registry.AddGauge("zeta", "Z.").WithLabels({}).Set(1);
  registry.AddGauge("alpha", "A.").WithLabels({}).Set(2);
  const std::string out = registry.Render();
  EXPECT_LT(out.find("alpha 2"), out.find("zeta 1"));
}

TEST(RegistryTest, RegisteringTheSameShapeAgainReturnsTheSameFamily) {
  Registry registry;
  CounterFamily& a = registry.AddCounter("x_total", "X.", {"k"});
  CounterFamily& b = registry.AddCounter("x_total", "X.", {"k"});
  EXPECT_EQ(&a, &b);
  HistogramFamily& h1 = registry.AddHistogram("h", "H.", {}, {1, 2});
  HistogramFamily& h2 = registry.AddHistogram("h", "H.", {}, {1, 2});
  EXPECT_EQ(&h1, &h2);
}

TEST(RegistryDeathTest, RegisteringANameWithAnotherShapeAborts) {
  Registry registry;
  registry.AddCounter("x_total", "X.", {"k"});
  EXPECT_DEATH(registry.AddCounter("x_total", "X.", {"other"}),
               "registered twice");
  EXPECT_DEATH(registry.AddGauge("x_total", "X.", {"k"}), "registered twice");
  registry.AddHistogram("h", "H.", {}, {1, 2});
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {}, {1, 3}),
               "registered twice");
}

TEST(RegistryDeathTest, InvalidNamesAbort) {
  Registry registry;
  EXPECT_DEATH(registry.AddCounter("1abc", "X."), "invalid metric name");
  EXPECT_DEATH(registry.AddCounter("a-b", "X."), "invalid metric name");
  EXPECT_DEATH(registry.AddCounter("ok_total", "X.", {"bad-label"}),
               "invalid label name");
  EXPECT_DEATH(registry.AddCounter("ok_total", "X.", {"__reserved"}),
               "invalid label name");
  EXPECT_DEATH(registry.AddCounter("ok_total", "X.", {"a:b"}),
               "invalid label name");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {"le"}, {1}),
               "invalid label name");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {}, {2, 1}), "increasing");
  EXPECT_DEATH(registry.AddHistogram(
                   "h", "H.", {}, {1, std::numeric_limits<double>::infinity()}),
               "finite");
}

TEST(RegistryDeathTest, TheWrongNumberOfLabelValuesAborts) {
  Registry registry;
  CounterFamily& c = registry.AddCounter("c_total", "C.", {"a", "b"});
  EXPECT_DEATH(c.WithLabels({"only-one"}), "1 label values for 2 labels");
}

TEST(RegistryTest, NamesMayUseColonsAndDigits) {
  Registry registry;
  registry.AddCounter("sandyq:rule_1_total", "X.", {"label_2"});
  EXPECT_THAT(registry.Render(), HasSubstr("# TYPE sandyq:rule_1_total counter"));
}

// --- Escaping and values --------------------------------------------------------

TEST(ExpositionTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  Registry registry;
  registry.AddCounter("c_total", "C.", {"v"})
      .WithLabels({"a\\b\"c\nd"})
      .Increment();
  EXPECT_THAT(registry.Render(), HasSubstr("c_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"));
}

TEST(ExpositionTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  Registry registry;
  registry.AddGauge("g", "Line one\nsays \"a\\b\".");
  EXPECT_THAT(registry.Render(),
              HasSubstr("# HELP g Line one\\nsays \"a\\\\b\".\n"));
}

TEST(ExpositionTest, InvalidUtf8InALabelValueBecomesAReplacementCharacter) {
  EXPECT_EQ(EscapeLabelValue("ok\xff"), "ok\xEF\xBF\xBD");
  EXPECT_EQ(EscapeLabelValue("\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");  // été
  EXPECT_EQ(EscapeLabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(EscapeLabelValue("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short
  EXPECT_EQ(EscapeLabelValue("\xED\xA0\x80"),  // a surrogate
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ExpositionTest, ValuesAreShortestRoundTripDecimals) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3.5), "-3.5");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(65536), "65536");
  EXPECT_EQ(FormatValue(123456789012), "123456789012");
  EXPECT_EQ(FormatValue(0.00001), "1e-05");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(-0.0), "-0");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  for (double v : {1.0 / 3, 2.0 / 3 * 1e-3, 1e300, 5e-324, 123.456e10}) {
    EXPECT_EQ(std::strtod(FormatValue(v).c_str(), nullptr), v) << FormatValue(v);
  }
}

// --- Gauges ---------------------------------------------------------------------

TEST(GaugeTest, SetAndAdd) {
  Registry registry;
  Gauge& g = registry.AddGauge("in_flight", "In flight.").WithLabels({});
  g.Set(5);
  g.Add(-2);
  g.Add(0.5);
  EXPECT_DOUBLE_EQ(g.value(), 3.5);
  EXPECT_THAT(registry.Render(), HasSubstr("\nin_flight 3.5\n"));
}

// --- Histograms -----------------------------------------------------------------

TEST(HistogramTest, RendersCumulativeBucketsInfSumAndCount) {
  Registry registry;
  Histogram& h =
      registry.AddHistogram("latency_seconds", "Latency.", {}, {0.5, 1})
          .WithLabels({});
  h.Observe(0.25);
  h.Observe(0.5);  // "le" is inclusive
  h.Observe(0.75);
  h.Observe(7);
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.5\"} 2\n"
            "latency_seconds_bucket{le=\"1\"} 3\n"
            "latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "latency_seconds_sum 8.5\n"
            "latency_seconds_count 4\n");
}

TEST(HistogramTest, LeComesAfterTheFamilysLabels) {
  Registry registry;
  registry.AddHistogram("d_seconds", "D.", {"rpc"}, {1})
      .WithLabels({"Tokenizer.Tokenize"})
      .Observe(2);
  const std::string out = registry.Render();
  EXPECT_THAT(out, HasSubstr(
                       "d_seconds_bucket{rpc=\"Tokenizer.Tokenize\",le=\"1\"} 0\n"
                       "d_seconds_bucket{rpc=\"Tokenizer.Tokenize\",le=\"+Inf\"} 1\n"
                       "d_seconds_sum{rpc=\"Tokenizer.Tokenize\"} 2\n"
                       "d_seconds_count{rpc=\"Tokenizer.Tokenize\"} 1\n"));
}

TEST(HistogramTest, NanIsIgnoredAndNegativeValuesLandInTheFirstBucket) {
  Registry registry;
  Histogram& h = registry.AddHistogram("h", "H.", {}, {1, 2}).WithLabels({});
  h.Observe(std::nan(""));
  h.Observe(-1);
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(s.sum, -1);
}

TEST(HistogramTest, BucketHelpers) {
  EXPECT_EQ(PowersOfTwoBuckets(512),
            (std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}));
  EXPECT_EQ(PowersOfTwoBuckets(5), (std::vector<double>{1, 2, 4, 8}));
  const std::vector<double> latency = LatencyBuckets();
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_EQ(latency.front(), 0.0001);
  Registry registry;
  registry.AddHistogram("b", "B.", {}, latency).WithLabels({});
  EXPECT_THAT(registry.Render(), HasSubstr("b_bucket{le=\"0.0001\"} 0\n"));
  EXPECT_EQ(latency.back(), 10);
}

// --- Cardinality ----------------------------------------------------------------

TEST(CardinalityTest, CombinationsPastTheLimitShareOneOverflowSeries) {
  Registry registry(/*max_series_per_family=*/2);
  CounterFamily& c = registry.AddCounter("c_total", "C.", {"who", "what"});
  c.WithLabels({"a", "x"}).Increment();
  c.WithLabels({"b", "x"}).Increment();
  c.WithLabels({"c", "x"}).Increment();
  c.WithLabels({"d", "x"}).Increment(2);
  c.WithLabels({"a", "x"}).Increment();  // existing series still counted
  EXPECT_EQ(registry.Render(),
            "# HELP c_total C.\n"
            "# TYPE c_total counter\n"
            "c_total{who=\"a\",what=\"x\"} 2\n"
            "c_total{who=\"b\",what=\"x\"} 1\n"
            "c_total{who=\"(overflow)\",what=\"(overflow)\"} 3\n");
}

// --- Collectors -----------------------------------------------------------------

TEST(CollectorTest, RunsAtEveryRenderUntilItsHandleIsGone) {
  Registry registry;
  Gauge& g = registry.AddGauge("keys", "Keys.").WithLabels({});
  int runs = 0;
  {
    Registry::CollectorHandle handle = registry.AddCollector([&] {
      ++runs;
      g.Set(runs * 10);
    });
    EXPECT_THAT(registry.Render(), HasSubstr("\nkeys 10\n"));
    EXPECT_THAT(registry.Render(), HasSubstr("\nkeys 20\n"));
    Registry::CollectorHandle moved = std::move(handle);
    EXPECT_THAT(registry.Render(), HasSubstr("\nkeys 30\n"));
  }
  EXPECT_THAT(registry.Render(), HasSubstr("\nkeys 30\n"));
  EXPECT_EQ(runs, 3);
}

TEST(CollectorTest, ACollectorMayRegisterFamilies) {
  Registry registry;
  Registry::CollectorHandle handle = registry.AddCollector(
      [&] { registry.AddGauge("late", "Late.").WithLabels({}).Set(1); });
  EXPECT_THAT(registry.Render(), HasSubstr("\nlate 1\n"));
}

// --- Concurrency ----------------------------------------------------------------

TEST(ConcurrencyTest, ConcurrentUpdatesAndScrapesLoseNothing) {
  Registry registry;
  CounterFamily& calls = registry.AddCounter("calls_total", "C.", {"t"});
  HistogramFamily& lat = registry.AddHistogram("lat", "L.", {"t"}, {1, 2});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string mine = absl::StrCat("t", t % 2);
      for (int i = 0; i < kPerThread; ++i) {
        calls.WithLabels({mine}).Increment();
        calls.WithLabels({"shared"}).Increment();
        lat.WithLabels({mine}).Observe(i % 3);
      }
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) {
      EXPECT_THAT(registry.Render(), Not(HasSubstr("overflow")));
    }
  });
  for (std::thread& t : threads) t.join();
  scraper.join();
  EXPECT_EQ(calls.WithLabels({"shared"}).value(),
            static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(calls.WithLabels({"t0"}).value(),
            static_cast<uint64_t>(kThreads / 2 * kPerThread));
  const Histogram::Snapshot s = lat.WithLabels({"t1"}).snapshot();
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads / 2 * kPerThread));
}

TEST(DefaultRegistryTest, IsOneRegistryForTheProcess) {
  EXPECT_EQ(&DefaultRegistry(), &DefaultRegistry());
  CounterFamily& a = DefaultRegistry().AddCounter(
      "sandyq_registry_test_total", "Test.", {"k"});
  a.WithLabels({"v"}).Increment();
  EXPECT_THAT(DefaultRegistry().Render(),
              HasSubstr("sandyq_registry_test_total{k=\"v\"} 1\n"));
}

}  // namespace
}  // namespace sandyq::metrics
