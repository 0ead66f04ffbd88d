#ifndef SANDYQ_SERVER_VAULT_BACKGROUND_H_
#define SANDYQ_SERVER_VAULT_BACKGROUND_H_

#include <deque>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace sandyq::vault {

// One thread that runs posted tasks in order: for work that blocks (key
// administration, verifying the whole log) and must not run on a gRPC
// thread. The destructor runs every task already posted, then joins.
class BackgroundQueue {
 public:
  BackgroundQueue();
  ~BackgroundQueue();
  BackgroundQueue(const BackgroundQueue&) = delete;
  BackgroundQueue& operator=(const BackgroundQueue&) = delete;

  void Post(absl::AnyInvocable<void() &&> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_BACKGROUND_H_
