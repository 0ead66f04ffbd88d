#include "server/platform/exit_deadline.h"

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace sandyq::platform {
namespace {

TEST(ExitDeadlineDeathTest, EndsAProcessThatIsStillRunningAtTheDeadline) {
  EXPECT_EXIT(
      {
        ExitDeadline limit(absl::Now() + absl::Milliseconds(10),
                           "shutdown stuck; exiting");
        absl::Notification never;
        never.WaitForNotification();  // a shutdown step that never ends
      },
      ::testing::ExitedWithCode(1), "ERROR shutdown stuck; exiting");
}

TEST(ExitDeadlineTest, CancelledBeforeTheDeadlineItLetsTheProcessRun) {
  // A deadline far away: the destructor must not wait for it.
  ExitDeadline limit(absl::Now() + absl::Hours(1), "unused");
  limit.Cancel();
  limit.Cancel();  // twice is fine
}

TEST(ExitDeadlineTest, DestructorCancels) {
  { ExitDeadline limit(absl::Now() + absl::Hours(1), "unused"); }
  // Reaching here at all (not after an hour) is the test.
  SUCCEED();
}

}  // namespace
}  // namespace sandyq::platform
