#ifndef SANDYQ_SERVER_VAULT_BACKGROUND_H_
#define SANDYQ_SERVER_VAULT_BACKGROUND_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace sandyq::vault {

// Threads that run posted tasks: for work that blocks (key administration,
// verifying the whole log, reads that wait for the disk) and must not run on
// a gRPC thread. Tasks start in the order they were posted; with one thread
// each finishes before the next starts. The destructor runs every task
// already posted, then joins.
class BackgroundQueue {
 public:
  explicit BackgroundQueue(std::string name = "vault-bg", int threads = 1);
  ~BackgroundQueue();
  BackgroundQueue(const BackgroundQueue&) = delete;
  BackgroundQueue& operator=(const BackgroundQueue&) = delete;

  void Post(absl::AnyInvocable<void() &&> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_BACKGROUND_H_
