// KeyAdmin.RotateKeys, KeyAdmin.ListKeys, KeyAdmin.DestroyKey and
// Audit.SigningKey.

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/vault/vault.h"

namespace sandyq::vault {

void Vault::RotateKeys(const Caller& caller, Callback<uint32_t> done) {
  std::optional<audit::Event> event = Authorize(
      caller, "KeyAdmin.RotateKeys", &policy::Policy::KeyAdmin, done);
  if (!event) return;
  // Provider I/O and a synced write: never on the calling (gRPC) thread.
  background_->Post([this, event = std::move(*event),
                     done = std::move(done)]() mutable {
    absl::StatusOr<uint32_t> version = keys_->Rotate(event);
    if (!version.ok()) {
      event.rule = absl::StrCat(event.rule, "; rotation failed");
      return Refuse(std::move(event), audit::Decision::kFailed,
                    absl::UnavailableError(absl::StrCat(
                        "keys: rotation failed: ", version.status().message())),
                    std::move(done));
    }
    maintenance_->Wake();
    std::move(done)(*version);
  });
}

absl::StatusOr<Vault::KeyProgress> Vault::KeyProgressForMetrics() const {
  absl::StatusOr<int64_t> pending = keys_->RewrapPending();
  if (!pending.ok()) return pending.status();
  return KeyProgress{.rewrap_pending = *pending,
                     .rewrapped = maintenance_->rewrapped(),
                     .primary_version = keys_->keyring()->primary_version()};
}

void Vault::ListKeys(const Caller& caller, Callback<KeyListing> done) {
  std::optional<audit::Event> event = Authorize(
      caller, "KeyAdmin.ListKeys", &policy::Policy::KeyAdmin, done);
  if (!event) return;
  KeyListing listing;
  absl::StatusOr<std::vector<KeyInfo>> keys = keys_->ListKeys();
  if (!keys.ok()) {
    event->rule = "storage";
    return Refuse(std::move(*event), audit::Decision::kFailed,
                  NotRecorded(keys.status()), std::move(done));
  }
  listing.keys = std::move(*keys);
  for (const KeyInfo& k : listing.keys) {
    if (k.state != KeyState::kPrimary) listing.rewrap_pending += k.wrapped_deks;
  }
  listing.master_key = keys_->DescribeMasterKey();
  deps_.log->Commit({}, {std::move(*event)},
                    [listing = std::move(listing),
                     done = std::move(done)](absl::Status written) mutable {
                      if (!written.ok()) return std::move(done)(NotRecorded(written));
                      std::move(done)(std::move(listing));
                    });
}

void Vault::DestroyKey(const Caller& caller, uint32_t version,
                       Callback<bool> done) {
  std::optional<audit::Event> event = Authorize(
      caller, "KeyAdmin.DestroyKey", &policy::Policy::KeyAdmin, done);
  if (!event) return;
  background_->Post([this, version, event = std::move(*event),
                     done = std::move(done)]() mutable {
    absl::Status destroyed = keys_->Destroy(version, event);
    if (!destroyed.ok()) {
      // Refusals (still in use, primary, no such version) are logged too.
      event.rule = absl::StrCat(event.rule, "; KEK ", version, " not destroyed");
      const audit::Decision decision =
          absl::IsFailedPrecondition(destroyed) || absl::IsNotFound(destroyed)
              ? audit::Decision::kDenied
              : audit::Decision::kFailed;
      return Refuse(std::move(event), decision, destroyed, std::move(done));
    }
    std::move(done)(true);
  });
}

void Vault::SigningKey(const Caller& caller, Callback<std::string> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Audit.SigningKey", &policy::Policy::Audit, done);
  if (!event) return;
  deps_.log->Commit({}, {std::move(*event)},
                    [pem = keys_->signer()->PublicKeyPem(),
                     done = std::move(done)](absl::Status written) mutable {
                      if (!written.ok()) return std::move(done)(NotRecorded(written));
                      std::move(done)(std::move(pem));
                    });
}

}  // namespace sandyq::vault
