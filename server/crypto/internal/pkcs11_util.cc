#include "server/crypto/internal/pkcs11_util.h"

#include <dlfcn.h>

#include <cstring>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "server/crypto/hash.h"
#include "server/crypto/secret.h"

namespace sandyq::crypto::internal {
namespace {

constexpr size_t kTokenLabelSize = 32;  // CK_TOKEN_INFO.label, blank-padded

}  // namespace

std::string Pkcs11RvName(CK_RV rv) {
  switch (rv) {
#define SANDYQ_RV_CASE(name) \
  case name:                 \
    return #name;
    SANDYQ_RV_CASE(CKR_OK)
    SANDYQ_RV_CASE(CKR_CANCEL)
    SANDYQ_RV_CASE(CKR_HOST_MEMORY)
    SANDYQ_RV_CASE(CKR_SLOT_ID_INVALID)
    SANDYQ_RV_CASE(CKR_GENERAL_ERROR)
    SANDYQ_RV_CASE(CKR_FUNCTION_FAILED)
    SANDYQ_RV_CASE(CKR_ARGUMENTS_BAD)
    SANDYQ_RV_CASE(CKR_ATTRIBUTE_READ_ONLY)
    SANDYQ_RV_CASE(CKR_ATTRIBUTE_SENSITIVE)
    SANDYQ_RV_CASE(CKR_ATTRIBUTE_TYPE_INVALID)
    SANDYQ_RV_CASE(CKR_ATTRIBUTE_VALUE_INVALID)
    SANDYQ_RV_CASE(CKR_DATA_INVALID)
    SANDYQ_RV_CASE(CKR_DATA_LEN_RANGE)
    SANDYQ_RV_CASE(CKR_DEVICE_ERROR)
    SANDYQ_RV_CASE(CKR_DEVICE_MEMORY)
    SANDYQ_RV_CASE(CKR_DEVICE_REMOVED)
    SANDYQ_RV_CASE(CKR_ENCRYPTED_DATA_INVALID)
    SANDYQ_RV_CASE(CKR_ENCRYPTED_DATA_LEN_RANGE)
    SANDYQ_RV_CASE(CKR_FUNCTION_CANCELED)
    SANDYQ_RV_CASE(CKR_FUNCTION_NOT_SUPPORTED)
    SANDYQ_RV_CASE(CKR_KEY_HANDLE_INVALID)
    SANDYQ_RV_CASE(CKR_KEY_SIZE_RANGE)
    SANDYQ_RV_CASE(CKR_KEY_TYPE_INCONSISTENT)
    SANDYQ_RV_CASE(CKR_KEY_FUNCTION_NOT_PERMITTED)
    SANDYQ_RV_CASE(CKR_KEY_UNEXTRACTABLE)
    SANDYQ_RV_CASE(CKR_MECHANISM_INVALID)
    SANDYQ_RV_CASE(CKR_MECHANISM_PARAM_INVALID)
    SANDYQ_RV_CASE(CKR_OBJECT_HANDLE_INVALID)
    SANDYQ_RV_CASE(CKR_OPERATION_ACTIVE)
    SANDYQ_RV_CASE(CKR_OPERATION_NOT_INITIALIZED)
    SANDYQ_RV_CASE(CKR_PIN_INCORRECT)
    SANDYQ_RV_CASE(CKR_PIN_INVALID)
    SANDYQ_RV_CASE(CKR_PIN_LEN_RANGE)
    SANDYQ_RV_CASE(CKR_PIN_EXPIRED)
    SANDYQ_RV_CASE(CKR_PIN_LOCKED)
    SANDYQ_RV_CASE(CKR_SESSION_CLOSED)
    SANDYQ_RV_CASE(CKR_SESSION_COUNT)
    SANDYQ_RV_CASE(CKR_SESSION_HANDLE_INVALID)
    SANDYQ_RV_CASE(CKR_SESSION_READ_ONLY)
    SANDYQ_RV_CASE(CKR_SESSION_EXISTS)
    SANDYQ_RV_CASE(CKR_TEMPLATE_INCOMPLETE)
    SANDYQ_RV_CASE(CKR_TEMPLATE_INCONSISTENT)
    SANDYQ_RV_CASE(CKR_TOKEN_NOT_PRESENT)
    SANDYQ_RV_CASE(CKR_TOKEN_NOT_RECOGNIZED)
    SANDYQ_RV_CASE(CKR_TOKEN_WRITE_PROTECTED)
    SANDYQ_RV_CASE(CKR_USER_ALREADY_LOGGED_IN)
    SANDYQ_RV_CASE(CKR_USER_NOT_LOGGED_IN)
    SANDYQ_RV_CASE(CKR_USER_PIN_NOT_INITIALIZED)
    SANDYQ_RV_CASE(CKR_USER_TYPE_INVALID)
    SANDYQ_RV_CASE(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
    SANDYQ_RV_CASE(CKR_BUFFER_TOO_SMALL)
    SANDYQ_RV_CASE(CKR_CRYPTOKI_NOT_INITIALIZED)
    SANDYQ_RV_CASE(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef SANDYQ_RV_CASE
    default:
      return absl::StrFormat("CKR_0x%08x", static_cast<unsigned long>(rv));
  }
}

absl::Status Pkcs11Error(absl::string_view what, CK_RV rv) {
  const std::string message = absl::StrCat(what, ": ", Pkcs11RvName(rv));
  switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_USER_NOT_LOGGED_IN:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

CK_ATTRIBUTE Pkcs11BoolAttribute(CK_ATTRIBUTE_TYPE type, bool value) {
  static const CK_BBOOL kTrue = CK_TRUE;
  static const CK_BBOOL kFalse = CK_FALSE;
  return Pkcs11Attribute(type, value ? &kTrue : &kFalse, sizeof(CK_BBOOL));
}

// ---------------------------------------------------------------------------
// Pkcs11Module

namespace {

struct LoginState {
  int sessions = 0;
  SecretBytes pin;  // of the login that is in force
};

}  // namespace

// One initialized library, shared by all its Pkcs11Modules.
struct Pkcs11SharedModule {
  CK_FUNCTION_LIST* functions = nullptr;
  bool finalize = false;  // this code initialized it, so it finalizes it
  int refs = 0;
  std::map<CK_SLOT_ID, LoginState> logins;
};

namespace {

ABSL_CONST_INIT absl::Mutex registry_mu(absl::kConstInit);

// Keyed by dlopen handle: glibc returns the same handle for every dlopen of
// one library, whatever path names it.
std::map<void*, Pkcs11SharedModule*>& Registry()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static auto* registry = new std::map<void*, Pkcs11SharedModule*>();
  return *registry;
}

}  // namespace

Pkcs11Module::Pkcs11Module(std::string path, void* dl_handle,
                           Pkcs11SharedModule* shared)
    : path_(std::move(path)),
      dl_handle_(dl_handle),
      shared_(shared),
      functions_(shared->functions) {}

absl::StatusOr<std::unique_ptr<Pkcs11Module>> Pkcs11Module::Load(
    const std::string& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = ::dlerror();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load PKCS#11 module ", path, ": ",
                     reason != nullptr ? reason : "dlopen failed"));
  }
  absl::MutexLock lock(&registry_mu);
  auto it = Registry().find(handle);
  if (it != Registry().end()) {
    ++it->second->refs;
    return std::unique_ptr<Pkcs11Module>(
        new Pkcs11Module(path, handle, it->second));
  }

  auto get_function_list = reinterpret_cast<CK_C_GetFunctionList>(
      ::dlsym(handle, "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat(
        "PKCS#11 module ", path, " does not export C_GetFunctionList"));
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_function_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat("PKCS#11 module ", path,
                     ": C_GetFunctionList failed: ", Pkcs11RvName(rv)));
  }
  CK_C_INITIALIZE_ARGS args;
  std::memset(&args, 0, sizeof(args));
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat(
        "PKCS#11 module ", path, ": C_Initialize failed: ", Pkcs11RvName(rv)));
  }
  auto* shared = new Pkcs11SharedModule;
  shared->functions = functions;
  shared->finalize = rv == CKR_OK;
  shared->refs = 1;
  Registry()[handle] = shared;
  return std::unique_ptr<Pkcs11Module>(new Pkcs11Module(path, handle, shared));
}

Pkcs11Module::~Pkcs11Module() {
  absl::MutexLock lock(&registry_mu);
  if (--shared_->refs == 0) {
    if (shared_->finalize) functions_->C_Finalize(nullptr);
    Registry().erase(dl_handle_);
    delete shared_;
  }
  ::dlclose(dl_handle_);
}

absl::Status Pkcs11Module::Login(CK_SESSION_HANDLE session, CK_SLOT_ID slot,
                                 absl::string_view pin,
                                 absl::string_view token_label) {
  const absl::Status wrong_pin = absl::PermissionDeniedError(
      absl::StrCat("wrong PIN for token ", token_label));
  absl::MutexLock lock(&registry_mu);
  auto it = shared_->logins.find(slot);
  if (it != shared_->logins.end()) {
    // Already logged in by another session of ours: C_Login would answer
    // CKR_USER_ALREADY_LOGGED_IN without looking at the PIN.
    if (!ConstantTimeEquals(it->second.pin.view(), pin)) return wrong_pin;
    ++it->second.sessions;
    return absl::OkStatus();
  }
  SecretBytes pin_copy(pin);  // C_Login takes a non-const pointer
  const CK_RV rv = functions_->C_Login(
      session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin_copy.data()),
      pin_copy.size());
  switch (rv) {
    case CKR_OK: {
      LoginState& state = shared_->logins[slot];
      state.sessions = 1;
      state.pin = std::move(pin_copy);
      return absl::OkStatus();
    }
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      return wrong_pin;
    case CKR_PIN_LOCKED:
      return absl::PermissionDeniedError(
          absl::StrCat("the user PIN of token ", token_label, " is locked"));
    case CKR_PIN_EXPIRED:
      return absl::PermissionDeniedError(
          absl::StrCat("the user PIN of token ", token_label, " has expired"));
    case CKR_USER_PIN_NOT_INITIALIZED:
      return absl::FailedPreconditionError(
          absl::StrCat("token ", token_label, " has no user PIN set"));
    case CKR_USER_ALREADY_LOGGED_IN:
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
      // Logged in by code that does not go through this registry: the PIN
      // cannot be checked, so refuse rather than ride on that login.
      return absl::FailedPreconditionError(
          absl::StrCat("token ", token_label,
                       " is already logged in by other code in this process"));
    default:
      return Pkcs11Error(absl::StrCat("cannot log in to token ", token_label),
                         rv);
  }
}

void Pkcs11Module::CloseSession(CK_SESSION_HANDLE session, CK_SLOT_ID slot) {
  // Under the lock: closing the slot's last session logs the token out, and
  // a concurrent Login must not count on that login in between.
  absl::MutexLock lock(&registry_mu);
  functions_->C_CloseSession(session);
  auto it = shared_->logins.find(slot);
  if (it == shared_->logins.end()) return;
  if (--it->second.sessions <= 0) shared_->logins.erase(it);
}

// ---------------------------------------------------------------------------
// Pkcs11Session

absl::StatusOr<std::unique_ptr<Pkcs11Session>> Pkcs11Session::Open(
    const std::string& module_path, absl::string_view token_label,
    absl::string_view pin) {
  absl::StatusOr<std::unique_ptr<Pkcs11Module>> module =
      Pkcs11Module::Load(module_path);
  if (!module.ok()) return module.status();
  CK_FUNCTION_LIST* f = (*module)->functions();
  const std::string where = absl::StrCat("PKCS#11 module ", module_path);

  std::vector<CK_SLOT_ID> slots;
  CK_RV rv;
  for (;;) {
    CK_ULONG count = 0;
    rv = f->C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) {
      return Pkcs11Error(absl::StrCat(where, ": C_GetSlotList"), rv);
    }
    slots.resize(count);
    rv = f->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;  // a token appeared meanwhile
    if (rv != CKR_OK) {
      return Pkcs11Error(absl::StrCat(where, ": C_GetSlotList"), rv);
    }
    slots.resize(count);
    break;
  }

  std::vector<CK_SLOT_ID> matches;
  if (token_label.size() <= kTokenLabelSize) {
    std::string padded(token_label);
    padded.resize(kTokenLabelSize, ' ');
    for (CK_SLOT_ID slot : slots) {
      CK_TOKEN_INFO info;
      if (f->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
      if (std::memcmp(info.label, padded.data(), kTokenLabelSize) == 0) {
        matches.push_back(slot);
      }
    }
  }
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat("no PKCS#11 token labelled '",
                                            token_label, "' in ", module_path));
  }
  if (matches.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        matches.size(), " PKCS#11 tokens are labelled '", token_label, "' in ",
        module_path, "; token labels must be unique"));
  }
  const CK_SLOT_ID slot = matches[0];

  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                        nullptr, &handle);
  if (rv != CKR_OK) {
    return Pkcs11Error(
        absl::StrCat("cannot open a session on token ", token_label), rv);
  }

  // The login is process-wide per slot: see Pkcs11Module::Login.
  absl::Status login = (*module)->Login(handle, slot, pin, token_label);
  if (!login.ok()) {
    f->C_CloseSession(handle);
    return login;
  }
  return std::unique_ptr<Pkcs11Session>(
      new Pkcs11Session(*std::move(module), slot, handle));
}

Pkcs11Session::~Pkcs11Session() { module_->CloseSession(handle_, slot_); }

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> Pkcs11Session::FindObjects(
    std::vector<CK_ATTRIBUTE> match) {
  CK_FUNCTION_LIST* f = functions();
  CK_RV rv = f->C_FindObjectsInit(handle_, match.data(), match.size());
  if (rv != CKR_OK) return Pkcs11Error("C_FindObjectsInit", rv);
  std::vector<CK_OBJECT_HANDLE> found;
  for (;;) {
    CK_OBJECT_HANDLE batch[64];
    CK_ULONG count = 0;
    rv = f->C_FindObjects(handle_, batch, 64, &count);
    if (rv != CKR_OK) break;
    found.insert(found.end(), batch, batch + count);
    if (count == 0) break;
  }
  const CK_RV final_rv = f->C_FindObjectsFinal(handle_);
  if (rv != CKR_OK) return Pkcs11Error("C_FindObjects", rv);
  if (final_rv != CKR_OK) return Pkcs11Error("C_FindObjectsFinal", final_rv);
  return found;
}

absl::StatusOr<std::string> Pkcs11Session::GetAttribute(
    CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attribute = Pkcs11Attribute(type, nullptr, 0);
  CK_RV rv = functions()->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv != CKR_OK) return Pkcs11Error("C_GetAttributeValue", rv);
  if (attribute.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return Pkcs11Error("C_GetAttributeValue", CKR_ATTRIBUTE_TYPE_INVALID);
  }
  std::string value(attribute.ulValueLen, '\0');
  attribute.pValue = value.data();
  rv = functions()->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv != CKR_OK) return Pkcs11Error("C_GetAttributeValue", rv);
  value.resize(attribute.ulValueLen);
  return value;
}

absl::StatusOr<bool> Pkcs11Session::GetBoolAttribute(CK_OBJECT_HANDLE object,
                                                     CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attribute = Pkcs11Attribute(type, &value, sizeof(value));
  CK_RV rv = functions()->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv != CKR_OK) return Pkcs11Error("C_GetAttributeValue", rv);
  return value != CK_FALSE;
}

absl::StatusOr<CK_ULONG> Pkcs11Session::GetUlongAttribute(
    CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ULONG value = 0;
  CK_ATTRIBUTE attribute = Pkcs11Attribute(type, &value, sizeof(value));
  CK_RV rv = functions()->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv != CKR_OK) return Pkcs11Error("C_GetAttributeValue", rv);
  return value;
}

}  // namespace sandyq::crypto::internal
