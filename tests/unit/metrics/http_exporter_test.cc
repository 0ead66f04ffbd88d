#include "server/metrics/http_exporter.h"

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/registry.h"
#include "tests/fakes/http_get.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::metrics {
namespace {

using ::sandyq::testing::HttpGet;
using ::sandyq::testing::HttpRequest;
using ::sandyq::testing::HttpResponse;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

class HttpExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("sandyq_test_total", "Test calls.", {"rpc"})
        .WithLabels({"Tokenizer.Tokenize"})
        .Increment(3);
    absl::StatusOr<std::unique_ptr<HttpExporter>> exporter =
        HttpExporter::Start("127.0.0.1:0", &registry_);
    ASSERT_THAT(exporter, IsOk());
    exporter_ = std::move(*exporter);
  }

  Registry registry_;
  std::unique_ptr<HttpExporter> exporter_;
};

TEST_F(HttpExporterTest, PortZeroBindsAFreePortAndReportsIt) {
  EXPECT_THAT(exporter_->address(), MatchesRegex("127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_THAT(exporter_->address(), ::testing::Not(::testing::EndsWith(":0")));
}

TEST_F(HttpExporterTest, ServesTheRegistryInTheTextFormat) {
  absl::StatusOr<HttpResponse> r = HttpGet(exporter_->address(), "/metrics");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->headers,
              HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  EXPECT_EQ(r->body, registry_.Render());
  EXPECT_THAT(r->body,
              HasSubstr("sandyq_test_total{rpc=\"Tokenizer.Tokenize\"} 3\n"));
}

TEST_F(HttpExporterTest, EachScrapeShowsCurrentValues) {
  registry_.AddCounter("sandyq_test_total", "Test calls.", {"rpc"})
      .WithLabels({"Tokenizer.Tokenize"})
      .Increment();
  absl::StatusOr<HttpResponse> r = HttpGet(exporter_->address(), "/metrics");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->body,
              HasSubstr("sandyq_test_total{rpc=\"Tokenizer.Tokenize\"} 4\n"));
}

TEST_F(HttpExporterTest, QueryStringsAreIgnored) {
  absl::StatusOr<HttpResponse> r =
      HttpGet(exporter_->address(), "/metrics?name[]=x");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpExporterTest, HeadSendsHeadersOnly) {
  absl::StatusOr<HttpResponse> r =
      HttpRequest("HEAD", exporter_->address(), "/metrics");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
}

TEST_F(HttpExporterTest, OtherPathsAreNotFoundAndServeNoFiles) {
  for (const char* path : {"/", "/metrics/x", "/metricsx", "/etc/passwd",
                           "/../../etc/passwd"}) {
    absl::StatusOr<HttpResponse> r = HttpGet(exporter_->address(), path);
    ASSERT_THAT(r, IsOk()) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_THAT(r->body, ::testing::Not(HasSubstr("root:")));
  }
}

TEST_F(HttpExporterTest, OtherMethodsAreRefused) {
  absl::StatusOr<HttpResponse> r =
      HttpRequest("POST", exporter_->address(), "/metrics");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 405);
  EXPECT_THAT(r->body, ::testing::Not(HasSubstr("sandyq_test_total")));
}

TEST_F(HttpExporterTest, AnAddressInUseIsAClearError) {
  absl::StatusOr<std::unique_ptr<HttpExporter>> second =
      HttpExporter::Start(exporter_->address(), &registry_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(second.status().message()),
              StartsWith("metrics: cannot listen on " + exporter_->address()));
}

TEST(HttpExporterStartTest, AnAddressWithoutAPortIsRefused) {
  Registry registry;
  EXPECT_THAT(HttpExporter::Start("127.0.0.1", &registry),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(HttpExporterStartTest, StoppingClosesThePort) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<HttpExporter>> exporter =
      HttpExporter::Start("127.0.0.1:0", &registry);
  ASSERT_THAT(exporter, IsOk());
  const std::string address = (*exporter)->address();
  ASSERT_THAT(HttpGet(address, "/metrics"), IsOk());
  exporter->reset();
  EXPECT_THAT(HttpGet(address, "/metrics"),
              StatusIs(absl::StatusCode::kUnavailable));
}

// civetweb notices a stop only between 2 s polls unless a connection comes
// in; the exporter knocks so that stopping right after a scrape is quick.
TEST(HttpExporterStartTest, StopsPromptlyRightAfterAScrape) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<HttpExporter>> exporter =
      HttpExporter::Start("127.0.0.1:0", &registry);
  ASSERT_THAT(exporter, IsOk());
  ASSERT_THAT(HttpGet((*exporter)->address(), "/metrics"), IsOk());
  const absl::Time start = absl::Now();
  exporter->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace sandyq::metrics
