#ifndef SANDYQ_SERVER_PLATFORM_EXIT_DEADLINE_H_
#define SANDYQ_SERVER_PLATFORM_EXIT_DEADLINE_H_

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace sandyq::platform {

// Ends the process if it is still running at `deadline`: unless Cancel() (or
// the destructor) comes first, logs `what` as an error and exits at once with
// status 1, running no destructors and flushing nothing. For shutdown paths
// that must stay bounded even when something they wait for never finishes
// (a hung disk, a long background task): whatever was acknowledged is
// durable already. Thread-safe.
class ExitDeadline {
 public:
  ExitDeadline(absl::Time deadline, std::string what);
  // Cancels.
  ~ExitDeadline();
  ExitDeadline(const ExitDeadline&) = delete;
  ExitDeadline& operator=(const ExitDeadline&) = delete;

  // The process may take as long as it needs after all.
  void Cancel();

 private:
  std::atomic<bool> cancel_called_{false};
  absl::Notification cancelled_;
  std::thread thread_;  // last: it uses the members above
};

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_EXIT_DEADLINE_H_
