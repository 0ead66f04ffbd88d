#include "server/crypto/master_key.h"

#include <openssl/crypto.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/crypto/aead.h"
#include "server/platform/files.h"

namespace sandyq::crypto {
namespace {

constexpr absl::string_view kFileHeader = "sandyq-master-key-v1";
constexpr size_t kMasterKeySize = Aead::kKeySize;
constexpr absl::string_view kWrapAdPrefix = "sandyq master wrap v1:";

// Wipes a std::string that held key material when it goes out of scope.
class StringWiper {
 public:
  explicit StringWiper(std::string& s) : s_(s) {}
  ~StringWiper() { OPENSSL_cleanse(s_.data(), s_.size()); }
  StringWiper(const StringWiper&) = delete;
  StringWiper& operator=(const StringWiper&) = delete;

 private:
  std::string& s_;
};

int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// A master key read from a file, held in an Aead; never exported.
class FileMasterKeyProvider final : public MasterKeyProvider {
 public:
  FileMasterKeyProvider(std::string path, std::unique_ptr<Aead> aead)
      : path_(std::move(path)), aead_(std::move(aead)) {}

  std::string Describe() const override { return absl::StrCat("file:", path_); }

  absl::StatusOr<std::string> Wrap(const SecretBytes& key,
                                   absl::string_view context) const override {
    return aead_->Encrypt(key.view(), absl::StrCat(kWrapAdPrefix, context));
  }

  absl::StatusOr<SecretBytes> Unwrap(absl::string_view wrapped,
                                     absl::string_view context) const override {
    absl::StatusOr<std::string> plain =
        aead_->Decrypt(wrapped, absl::StrCat(kWrapAdPrefix, context));
    if (!plain.ok()) return plain.status();
    StringWiper wipe(*plain);
    return SecretBytes(*plain);
  }

 private:
  const std::string path_;
  const std::unique_ptr<Aead> aead_;
};

}  // namespace

absl::Status CreateFileMasterKey(const std::string& path,
                                 platform::Random& random) {
  if (platform::PathExists(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("master key file ", path, " already exists"));
  }
  const SecretBytes key = SecretBytes::Random(kMasterKeySize, random);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string content;
  StringWiper wipe(content);
  content.reserve(kFileHeader.size() + 2 * kMasterKeySize + 2);
  content.append(kFileHeader.data(), kFileHeader.size());
  content.push_back('\n');
  for (size_t i = 0; i < key.size(); ++i) {
    content.push_back(kDigits[key.data()[i] >> 4]);
    content.push_back(kDigits[key.data()[i] & 0x0f]);
  }
  content.push_back('\n');
  return platform::WriteFileAtomic(path, content, 0600);
}

absl::StatusOr<std::unique_ptr<MasterKeyProvider>> OpenFileMasterKey(
    const std::string& path, platform::Random& random) {
  if (!platform::PathExists(path)) {
    return absl::NotFoundError(
        absl::StrCat("master key file ", path, " not found"));
  }
  if (absl::Status s = platform::CheckOwnerOnly(path); !s.ok()) {
    if (absl::IsFailedPrecondition(s)) return s;
    return absl::Status(s.code(), absl::StrCat("master key file: ", s.message()));
  }
  absl::StatusOr<std::string> content = platform::ReadFile(path);
  if (!content.ok()) return content.status();
  StringWiper wipe(*content);

  const absl::Status malformed = absl::InvalidArgumentError(absl::StrCat(
      "malformed master key file ", path, ": expected the line '", kFileHeader,
      "' then ", 2 * kMasterKeySize, " lower-case hex digits"));
  absl::string_view text = *content;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const size_t newline = text.find('\n');
  if (newline == absl::string_view::npos ||
      text.substr(0, newline) != kFileHeader) {
    return malformed;
  }
  const absl::string_view hex = text.substr(newline + 1);
  if (hex.size() != 2 * kMasterKeySize) return malformed;
  SecretBytes key(kMasterKeySize);
  for (size_t i = 0; i < kMasterKeySize; ++i) {
    const int hi = LowerHexValue(hex[2 * i]);
    const int lo = LowerHexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return malformed;
    key.data()[i] = static_cast<uint8_t>((hi << 4) | lo);
  }

  absl::StatusOr<std::unique_ptr<Aead>> aead = Aead::New(key, random);
  if (!aead.ok()) return aead.status();
  return std::unique_ptr<MasterKeyProvider>(
      new FileMasterKeyProvider(path, *std::move(aead)));
}

}  // namespace sandyq::crypto
