#ifndef SANDYQ_SERVER_CRYPTO_INTERNAL_PKCS11_UTIL_H_
#define SANDYQ_SERVER_CRYPTO_INTERNAL_PKCS11_UTIL_H_

// PKCS#11 plumbing for the HSM master-key provider: a module loaded with
// dlopen and initialized once per process, and a logged-in session on one
// token. For crypto/ and its tests only (tests use it to inspect and plant
// objects in a SoftHSM2 token).

#include <p11-kit/pkcs11.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sandyq::crypto::internal {

// "CKR_PIN_INCORRECT" etc.; "CKR_0x..." for codes without a name here.
std::string Pkcs11RvName(CK_RV rv);

// Status for a failed PKCS#11 call: Unavailable when the token or session is
// gone (device error, token removed, session closed), Internal otherwise.
// The message is "<what>: <CKR name>".
absl::Status Pkcs11Error(absl::string_view what, CK_RV rv);

// A template entry pointing at `size` bytes at `value`, which must outlive
// every use of the entry. PKCS#11 takes non-const pointers even for input.
inline CK_ATTRIBUTE Pkcs11Attribute(CK_ATTRIBUTE_TYPE type, const void* value,
                                    size_t size) {
  CK_ATTRIBUTE attribute;
  attribute.type = type;
  attribute.pValue = const_cast<void*>(value);
  attribute.ulValueLen = size;
  return attribute;
}
inline CK_ATTRIBUTE Pkcs11Attribute(CK_ATTRIBUTE_TYPE type,
                                    absl::string_view bytes) {
  return Pkcs11Attribute(type, bytes.data(), bytes.size());
}
// CK_TRUE / CK_FALSE with static storage.
CK_ATTRIBUTE Pkcs11BoolAttribute(CK_ATTRIBUTE_TYPE type, bool value);

// The state of one initialized library; defined in pkcs11_util.cc.
struct Pkcs11SharedModule;

// A PKCS#11 module (shared library) loaded with dlopen and initialized with
// C_Initialize(CKF_OS_LOCKING_OK). C_Initialize and C_Finalize act on the
// whole process, so every Pkcs11Module of one library shares a single
// initialization: the first Load initializes (tolerating
// CKR_CRYPTOKI_ALREADY_INITIALIZED, in which case someone else owns it and
// this code never finalizes), the last one destroyed calls C_Finalize, and
// each one dlcloses its own dlopen reference. The user login of each slot is
// also process-wide in PKCS#11 and is tracked here (see Pkcs11Session).
// Thread-safe.
class Pkcs11Module {
 public:
  // FailedPrecondition naming `path` if it cannot be loaded, exports no
  // C_GetFunctionList, or fails to initialize.
  static absl::StatusOr<std::unique_ptr<Pkcs11Module>> Load(
      const std::string& path);
  ~Pkcs11Module();

  CK_FUNCTION_LIST* functions() const { return functions_; }
  const std::string& path() const { return path_; }

  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

 private:
  friend class Pkcs11Session;
  Pkcs11Module(std::string path, void* dl_handle, Pkcs11SharedModule* shared);

  // Logs `session` (open on `slot`) in as the user. PKCS#11 keeps one login
  // per slot for the whole process, and a second C_Login returns
  // CKR_USER_ALREADY_LOGGED_IN without looking at the PIN; so the PIN of the
  // first login is remembered (wiped when the last session of the slot
  // closes) and a later login must present the same one.
  // PermissionDenied on a wrong or locked PIN, FailedPrecondition if the slot
  // was logged in by other code of this process. Never names the PIN.
  absl::Status Login(CK_SESSION_HANDLE session, CK_SLOT_ID slot,
                     absl::string_view pin, absl::string_view token_label);
  // Closes a session that Login succeeded on, and forgets the PIN when it was
  // the slot's last one (PKCS#11 then logs the token out).
  void CloseSession(CK_SESSION_HANDLE session, CK_SLOT_ID slot);

  const std::string path_;
  void* const dl_handle_;
  Pkcs11SharedModule* const shared_;
  CK_FUNCTION_LIST* const functions_;
};

// A read/write session on the token with a given label, logged in as the
// user. Not thread-safe: one caller at a time (PKCS#11 sessions must not be
// used concurrently).
class Pkcs11Session {
 public:
  // FailedPrecondition naming the module if it cannot be loaded; NotFound
  // naming the label if no initialized token has it; FailedPrecondition if
  // several do; PermissionDenied("wrong PIN for token <label>"). No error
  // names the PIN.
  static absl::StatusOr<std::unique_ptr<Pkcs11Session>> Open(
      const std::string& module_path, absl::string_view token_label,
      absl::string_view pin);
  // Closes the session, then releases the module.
  ~Pkcs11Session();

  CK_FUNCTION_LIST* functions() const { return module_->functions(); }
  CK_SESSION_HANDLE handle() const { return handle_; }
  const std::string& module_path() const { return module_->path(); }

  // The objects matching `match` (C_FindObjectsInit/C_FindObjects/
  // C_FindObjectsFinal).
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(
      std::vector<CK_ATTRIBUTE> match);
  // The value of one attribute; Pkcs11Error on failure (e.g.
  // CKR_ATTRIBUTE_SENSITIVE). Do not use it for secret values.
  absl::StatusOr<std::string> GetAttribute(CK_OBJECT_HANDLE object,
                                           CK_ATTRIBUTE_TYPE type);
  absl::StatusOr<bool> GetBoolAttribute(CK_OBJECT_HANDLE object,
                                        CK_ATTRIBUTE_TYPE type);
  absl::StatusOr<CK_ULONG> GetUlongAttribute(CK_OBJECT_HANDLE object,
                                             CK_ATTRIBUTE_TYPE type);

  Pkcs11Session(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;

 private:
  Pkcs11Session(std::unique_ptr<Pkcs11Module> module, CK_SLOT_ID slot,
                CK_SESSION_HANDLE handle)
      : module_(std::move(module)), slot_(slot), handle_(handle) {}

  const std::unique_ptr<Pkcs11Module> module_;
  const CK_SLOT_ID slot_;
  const CK_SESSION_HANDLE handle_;
};

}  // namespace sandyq::crypto::internal

#endif  // SANDYQ_SERVER_CRYPTO_INTERNAL_PKCS11_UTIL_H_
