#include "server/vault/sequencer.h"

#include <optional>

#include "absl/synchronization/notification.h"

namespace sandyq::vault {

void KeyedSequencer::Run(const std::string& key, Task task) {
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = busy_.try_emplace(key);
    if (!inserted) {
      it->second.push_back(std::move(task));
      return;
    }
  }
  std::move(task)(Release(this, key));
}

void KeyedSequencer::Next(const std::string& key) {
  Task next;
  {
    absl::MutexLock lock(&mu_);
    auto it = busy_.find(key);
    if (it == busy_.end()) return;
    if (it->second.empty()) {
      busy_.erase(it);
      return;
    }
    next = std::move(it->second.front());
    it->second.pop_front();
  }
  std::move(next)(Release(this, key));
}

KeyedSequencer::Release KeyedSequencer::Acquire(const std::string& key) {
  absl::Notification acquired;
  std::optional<Release> held;
  Run(key, [&](Release release) {
    held.emplace(std::move(release));
    acquired.Notify();
  });
  acquired.WaitForNotification();
  return std::move(*held);
}

size_t KeyedSequencer::busy_keys() const {
  absl::MutexLock lock(&mu_);
  return busy_.size();
}

}  // namespace sandyq::vault
