// The ciphertext decoders (server/crypto): the AEAD sealed format, wrapped
// data keys in a keyring, and the file master key's key and KEK files.
//
// Input: byte 0 picks the mode, the rest is split by FuzzedDataProvider.
//   0  Aead::Decrypt of arbitrary bytes: always the one generic error.
//   1  Encrypt then Decrypt round trip; any changed byte, any truncation or
//      other associated data fails.
//   2  Keyring::UnwrapDek of arbitrary wrapped keys.
//   3  the file master key: arbitrary key file and KEK file contents.

#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/crypto/aead.h"
#include "server/crypto/keyring.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"
#include "tests/fakes/fake_random.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {
namespace {

testing::FakeRandom& Random() {
  static auto* const random = new testing::FakeRandom(7);
  return *random;
}

const crypto::Aead& TheAead() {
  static const crypto::Aead* const aead =
      crypto::Aead::New(crypto::SecretBytes(std::string(32, '\x5a')), Random())
          ->release();
  return *aead;
}

void CheckGenericFailure(const absl::StatusOr<std::string>& plain) {
  SANDYQ_FUZZ_CHECK(!plain.ok());
  SANDYQ_FUZZ_CHECK(plain.status().code() == absl::StatusCode::kDataLoss);
  SANDYQ_FUZZ_CHECK(plain.status().message() == "decryption failed");
}

void DecryptAnything(FuzzedDataProvider& in) {
  const std::string ad = in.ConsumeRandomLengthString(64);
  const std::string sealed = in.ConsumeRemainingBytesAsString();
  CheckGenericFailure(TheAead().Decrypt(sealed, ad));
}

void RoundTrip(FuzzedDataProvider& in) {
  const std::string ad = in.ConsumeRandomLengthString(64);
  const size_t flip_at = in.ConsumeIntegral<uint16_t>();
  const uint8_t flip = in.ConsumeIntegralInRange<uint8_t>(1, 255);
  const size_t cut = in.ConsumeIntegral<uint16_t>();
  const std::string plaintext = in.ConsumeRemainingBytesAsString();
  absl::StatusOr<std::string> sealed = TheAead().Encrypt(plaintext, ad);
  SANDYQ_FUZZ_CHECK(sealed.ok());
  SANDYQ_FUZZ_CHECK(sealed->size() ==
                    plaintext.size() + crypto::Aead::kOverhead);
  absl::StatusOr<std::string> opened = TheAead().Decrypt(*sealed, ad);
  SANDYQ_FUZZ_CHECK(opened.ok() && *opened == plaintext);

  std::string altered = *sealed;
  altered[flip_at % altered.size()] ^= static_cast<char>(flip);
  CheckGenericFailure(TheAead().Decrypt(altered, ad));
  CheckGenericFailure(
      TheAead().Decrypt(absl::string_view(*sealed).substr(0, cut % sealed->size()), ad));
  CheckGenericFailure(TheAead().Decrypt(*sealed, absl::StrCat(ad, "x")));
}

void UnwrapDek(FuzzedDataProvider& in) {
  static const std::shared_ptr<const crypto::Keyring>* const keyring = [] {
    crypto::Keyring::Builder builder(Random());
    SANDYQ_FUZZ_CHECK(
        builder.Add(1, crypto::SecretBytes(std::string(32, '\x01')), false).ok());
    SANDYQ_FUZZ_CHECK(
        builder.Add(2, crypto::SecretBytes(std::string(32, '\x02')), true).ok());
    auto built = builder.Build();
    SANDYQ_FUZZ_CHECK(built.ok());
    return new std::shared_ptr<const crypto::Keyring>(*built);
  }();
  crypto::WrappedKey wrapped;
  wrapped.kek_version = in.ConsumeIntegral<uint32_t>();
  const std::string context = in.ConsumeRandomLengthString(40);
  wrapped.bytes = in.ConsumeRemainingBytesAsString();
  absl::StatusOr<crypto::SecretBytes> dek =
      (*keyring)->UnwrapDek(wrapped, context);
  SANDYQ_FUZZ_CHECK(!dek.ok());
  SANDYQ_FUZZ_CHECK(dek.status().code() == absl::StatusCode::kDataLoss ||
                    dek.status().code() == absl::StatusCode::kNotFound);
}

void WriteOwnerOnly(const std::string& path, const std::string& content) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  chmod(path.c_str(), 0600);
}

void MasterKeyFiles(FuzzedDataProvider& in) {
  static const std::string* const dir = [] {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                       "/sandyq-fuzz-XXXXXX");
    SANDYQ_FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr);
    return new std::string(pattern);
  }();
  const std::string path = absl::StrCat(*dir, "/master.key");
  const bool valid_key = in.ConsumeBool();
  const std::string key_file =
      valid_key ? absl::StrCat("sandyq-master-key-v1\n", std::string(64, 'a'),
                               "\n")
                : in.ConsumeRandomLengthString(200);
  const std::string wrapped = in.ConsumeRandomLengthString(100);
  const std::string keks_file = in.ConsumeRemainingBytesAsString();
  WriteOwnerOnly(path, key_file);
  WriteOwnerOnly(absl::StrCat(path, ".keks"), keks_file);

  absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> master =
      crypto::OpenFileMasterKey(path, Random());
  if (!master.ok()) {
    SANDYQ_FUZZ_CHECK(!valid_key);
    return;
  }
  absl::StatusOr<std::vector<uint32_t>> versions = (*master)->ListKeks();
  if (versions.ok()) {
    for (uint32_t v : *versions) (void)(*master)->GetKek(v);
  }
  (void)(*master)->GetKek(1);
  absl::StatusOr<crypto::SecretBytes> unwrapped =
      (*master)->Unwrap(wrapped, "kek:1");
  SANDYQ_FUZZ_CHECK(!unwrapped.ok());
}

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq::fuzz;  // NOLINT: one entry point
  if (size < 1) return 0;
  FuzzedDataProvider in(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      DecryptAnything(in);
      break;
    case 1:
      RoundTrip(in);
      break;
    case 2:
      UnwrapDek(in);
      break;
    case 3:
      MasterKeyFiles(in);
      break;
  }
  return 0;
}
