#include "server/platform/exit_deadline.h"

#include <cstdlib>
#include <utility>

#include "server/platform/log.h"

namespace sandyq::platform {

ExitDeadline::ExitDeadline(absl::Time deadline, std::string what)
    : thread_([this, deadline, what = std::move(what)] {
        NameThread("exit-deadline");
        if (cancelled_.WaitForNotificationWithDeadline(deadline)) return;
        LogError(what);
        std::_Exit(1);
      }) {}

ExitDeadline::~ExitDeadline() {
  Cancel();
  thread_.join();
}

void ExitDeadline::Cancel() {
  if (!cancel_called_.exchange(true)) cancelled_.Notify();
}

}  // namespace sandyq::platform
