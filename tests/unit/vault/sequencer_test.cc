#include "server/vault/sequencer.h"

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandyq::vault {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Release = KeyedSequencer::Release;

TEST(KeyedSequencerTest, RunsATaskAtOnceWhenItsKeyIsFree) {
  KeyedSequencer sequencer;
  std::optional<Release> held;
  bool ran = false;
  sequencer.Run("a", [&](Release r) {
    ran = true;
    held.emplace(std::move(r));
  });
  EXPECT_TRUE(ran);
  EXPECT_EQ(sequencer.busy_keys(), 1u);
  (*held)();
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

TEST(KeyedSequencerTest, HoldsTheSameKeyUntilReleased) {
  KeyedSequencer sequencer;
  std::optional<Release> first;
  std::vector<std::string> ran;
  sequencer.Run("a", [&](Release r) {
    ran.push_back("first");
    first.emplace(std::move(r));
  });
  sequencer.Run("a", [&](Release) { ran.push_back("second"); });
  EXPECT_THAT(ran, ElementsAre("first"));

  // The queued task runs on the releasing thread, during the release.
  (*first)();
  EXPECT_THAT(ran, ElementsAre("first", "second"));
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

TEST(KeyedSequencerTest, RunsTasksForOtherKeysWhileAKeyIsHeld) {
  KeyedSequencer sequencer;
  std::optional<Release> a;
  std::optional<Release> b;
  sequencer.Run("a", [&](Release r) { a.emplace(std::move(r)); });
  bool b_ran = false;
  sequencer.Run("b", [&](Release r) {
    b_ran = true;
    b.emplace(std::move(r));
  });
  EXPECT_TRUE(b_ran);
  EXPECT_EQ(sequencer.busy_keys(), 2u);
  (*a)();
  (*b)();
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

TEST(KeyedSequencerTest, RunsQueuedTasksInOrderOneAtATime) {
  KeyedSequencer sequencer;
  std::vector<Release> held;
  std::vector<int> ran;
  for (int i = 0; i < 4; ++i) {
    sequencer.Run("a", [&, i](Release r) {
      ran.push_back(i);
      held.push_back(std::move(r));
    });
  }
  EXPECT_THAT(ran, ElementsAre(0));
  for (int i = 1; i < 4; ++i) {
    Release current = std::move(held.back());
    held.pop_back();
    current();
    EXPECT_EQ(ran.size(), static_cast<size_t>(i + 1));
  }
  EXPECT_THAT(ran, ElementsAre(0, 1, 2, 3));
  held.back()();
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

TEST(KeyedSequencerTest, DestroyingAnUnreleasedHandleReleases) {
  KeyedSequencer sequencer;
  std::optional<Release> first;
  std::vector<std::string> ran;
  sequencer.Run("a", [&](Release r) { first.emplace(std::move(r)); });
  // Neither queued task keeps its handle: each releases on return.
  sequencer.Run("a", [&](Release) { ran.push_back("second"); });
  sequencer.Run("a", [&](Release) { ran.push_back("third"); });
  EXPECT_THAT(ran, IsEmpty());
  first.reset();  // destroyed without being called
  EXPECT_THAT(ran, ElementsAre("second", "third"));
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

TEST(KeyedSequencerTest, ReleasingTwiceOrFromAMovedHandleIsANoOp) {
  KeyedSequencer sequencer;
  std::optional<Release> first;
  std::optional<Release> second;
  int third_runs = 0;
  sequencer.Run("a", [&](Release r) { first.emplace(std::move(r)); });
  sequencer.Run("a", [&](Release r) { second.emplace(std::move(r)); });
  sequencer.Run("a", [&](Release) { ++third_runs; });

  Release moved = std::move(*first);
  (*first)();  // moved from: must not release the key
  EXPECT_FALSE(second.has_value());
  moved();
  ASSERT_TRUE(second.has_value());
  moved();  // twice: must not release the second task's hold
  EXPECT_EQ(third_runs, 0);
  EXPECT_EQ(sequencer.busy_keys(), 1u);
  (*second)();
  EXPECT_EQ(third_runs, 1);
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

TEST(KeyedSequencerTest, ManyThreadsNeverRunTwoTasksOfOneKeyAtOnce) {
  KeyedSequencer sequencer;
  constexpr int kThreads = 8;
  constexpr int kTasksPerThread = 200;
  std::atomic<int> inside[2] = {0, 0};
  std::atomic<int> max_inside{0};
  absl::BlockingCounter remaining(kThreads * kTasksPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTasksPerThread; ++i) {
        const int key = (t + i) % 2;
        sequencer.Run(absl::StrCat("key", key), [&, key](Release release) {
          const int now = ++inside[key];
          int seen = max_inside.load();
          while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
          }
          --inside[key];
          release();
          remaining.DecrementCount();
        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  remaining.Wait();
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(sequencer.busy_keys(), 0u);
}

}  // namespace
}  // namespace sandyq::vault
