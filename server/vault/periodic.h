#ifndef SANDYQ_SERVER_VAULT_PERIODIC_H_
#define SANDYQ_SERVER_VAULT_PERIODIC_H_

#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/platform/log.h"

namespace sandyq::vault {

// Runs `task` on its own thread, first right away, then again after the
// delay each run returns, until destroyed. The destructor waits for a running
// task to finish.
class PeriodicTask {
 public:
  PeriodicTask(std::string name, absl::AnyInvocable<absl::Duration()> task)
      : task_(std::move(task)), thread_([this, name] {
          platform::NameThread(name);
          Loop();
        }) {}
  ~PeriodicTask() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  void Loop() {
    for (;;) {
      const absl::Duration wait = task_();
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) return;
    }
  }

  absl::AnyInvocable<absl::Duration()> task_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after everything else is set
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_PERIODIC_H_
