#ifndef SANDYQ_TESTS_FAKES_SOFTHSM_TOKEN_H_
#define SANDYQ_TESTS_FAKES_SOFTHSM_TOKEN_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sandyq::testing {

// A throwaway SoftHSM2 token for one test (or one integration-test server):
// a fresh directory (mode 0700) holding a softhsm2.conf and the token files,
// with SOFTHSM2_CONF pointing at that conf for the whole process until the
// object dies; then the previous SOFTHSM2_CONF comes back and the directory
// is deleted. Child processes (e.g. a sandyqd started by the test) inherit
// the variable.
//
// SoftHSM2 reads SOFTHSM2_CONF in C_Initialize, so keep one SoftHsmToken per
// process at a time and close every PKCS#11 session and provider on the
// module before it dies (the last one closed calls C_Finalize, and the next
// test's C_Initialize then reads the next conf).
//
// Needs the Debian package softhsm2 (module and softhsm2-util).
class SoftHsmToken {
 public:
  // Creates the directory and the conf, then a token labelled `label` with
  // user PIN `pin` (softhsm2-util --init-token --free). FailedPrecondition if
  // SoftHSM2 is not installed, Internal if softhsm2-util fails.
  static absl::StatusOr<std::unique_ptr<SoftHsmToken>> Create(
      absl::string_view label, absl::string_view pin,
      absl::string_view so_pin = "5up3r-0ff1c3r");
  ~SoftHsmToken();

  // Initializes one more token in the next free slot of the same store.
  absl::Status AddToken(absl::string_view label, absl::string_view pin,
                        absl::string_view so_pin = "5up3r-0ff1c3r");

  // The PKCS#11 module to load.
  const std::string& module_path() const { return module_path_; }
  const std::string& label() const { return label_; }
  const std::string& pin() const { return pin_; }
  // The directory holding softhsm2.conf and tokens/.
  const std::string& dir() const { return dir_; }
  std::string conf_path() const { return dir_ + "/softhsm2.conf"; }

  // The installed SoftHSM2 module: $SANDYQ_SOFTHSM2_MODULE if set, else the
  // first that exists of the usual Debian, Ubuntu, Fedora and /usr/local
  // paths. Empty if none.
  static std::string FindModule();

  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

 private:
  SoftHsmToken() = default;

  std::string module_path_;
  std::string label_;
  std::string pin_;
  std::string dir_;
  bool had_previous_conf_ = false;
  std::string previous_conf_;
};

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_SOFTHSM_TOKEN_H_
