#include "server/crypto/master_key.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "server/crypto/aead.h"
#include "server/crypto/hash.h"
#include "server/platform/files.h"

namespace sandyq::crypto {
namespace {

constexpr absl::string_view kFileHeader = "sandyq-master-key-v1";
constexpr size_t kMasterKeySize = Aead::kKeySize;
constexpr absl::string_view kWrapAdPrefix = "sandyq master wrap v1:";
constexpr absl::string_view kKekFileHeader = "sandyq-keks-v1";
constexpr absl::string_view kKekFileSuffix = ".keks";

std::string KekContext(uint32_t version) {
  return absl::StrCat("kek:", version);
}

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

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return LowerHexValue(c) >= 0; });
}

// Wrapped KEKs by version, as kept in "<path>.keks" (format in master_key.h).
using KekMap = std::map<uint32_t, std::string>;

// Parses the KEK file; DataLoss naming `path` (and a line number, never the
// content) if it is malformed.
absl::StatusOr<KekMap> ParseKekFile(absl::string_view content,
                                    const std::string& path) {
  auto malformed = [&path](size_t line, absl::string_view expected) {
    return absl::DataLossError(absl::StrCat(
        "malformed KEK file ", path, ": line ", line, ": expected ", expected));
  };
  if (content.empty() || content.back() != '\n') {
    return malformed(1, "lines ending in a newline");
  }
  content.remove_suffix(1);
  const std::vector<absl::string_view> lines = absl::StrSplit(content, '\n');
  if (lines[0] != kKekFileHeader) {
    return malformed(1, absl::StrCat("'", kKekFileHeader, "'"));
  }
  KekMap keks;
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view expected =
        "'<version> <hex of the wrapped KEK>' with versions ascending";
    const absl::string_view line = lines[i];
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) return malformed(i + 1, expected);
    const absl::string_view digits = line.substr(0, space);
    const absl::string_view hex = line.substr(space + 1);
    uint32_t version;
    if (digits.empty() || (digits.size() > 1 && digits[0] == '0') ||
        !std::all_of(digits.begin(), digits.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(digits, &version) ||
        (!keks.empty() && version <= keks.rbegin()->first) || hex.empty() ||
        hex.size() % 2 != 0 || !IsLowerHex(hex)) {
      return malformed(i + 1, expected);
    }
    absl::StatusOr<std::string> wrapped = FromHex(hex);
    if (!wrapped.ok()) return malformed(i + 1, expected);
    keks.emplace(version, *std::move(wrapped));
  }
  return keks;
}

std::string FormatKekFile(const KekMap& keks) {
  std::string content = absl::StrCat(kKekFileHeader, "\n");
  for (const auto& [version, wrapped] : keks) {
    absl::StrAppend(&content, version, " ", ToHex(wrapped), "\n");
  }
  return content;
}

// A master key read from a file, held in an Aead; never exported. Its KEKs
// are kept in "<path>.keks", read afresh by every call.
class FileMasterKeyProvider final : public MasterKeyProvider {
 public:
  FileMasterKeyProvider(std::string path, std::unique_ptr<Aead> aead)
      : path_(std::move(path)),
        keks_path_(absl::StrCat(path_, kKekFileSuffix)),
        aead_(std::move(aead)) {}

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

  absl::Status PutKek(uint32_t version, const SecretBytes& kek) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<KekMap> keks = ReadKeks();
    if (!keks.ok()) return keks.status();
    if (keks->count(version) > 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "KEK version ", version, " already exists in ", keks_path_));
    }
    absl::StatusOr<std::string> wrapped = Wrap(kek, KekContext(version));
    if (!wrapped.ok()) return wrapped.status();
    keks->emplace(version, *std::move(wrapped));
    return platform::WriteFileAtomic(keks_path_, FormatKekFile(*keks), 0600);
  }

  absl::StatusOr<SecretBytes> GetKek(uint32_t version) const override {
    absl::StatusOr<KekMap> keks = ReadKeks();
    if (!keks.ok()) return keks.status();
    auto it = keks->find(version);
    if (it == keks->end()) {
      return absl::NotFoundError(
          absl::StrCat("no KEK version ", version, " in ", keks_path_));
    }
    return Unwrap(it->second, KekContext(version));
  }

  absl::Status DestroyKek(uint32_t version) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<KekMap> keks = ReadKeks();
    if (!keks.ok()) return keks.status();
    if (keks->erase(version) == 0) return absl::OkStatus();
    return platform::WriteFileAtomic(keks_path_, FormatKekFile(*keks), 0600);
  }

  absl::StatusOr<std::vector<uint32_t>> ListKeks() const override {
    absl::StatusOr<KekMap> keks = ReadKeks();
    if (!keks.ok()) return keks.status();
    std::vector<uint32_t> versions;
    versions.reserve(keks->size());
    for (const auto& entry : *keks) versions.push_back(entry.first);
    return versions;
  }

 private:
  // The current content of the KEK file; empty if there is none. The file is
  // replaced atomically, so reads need no lock.
  absl::StatusOr<KekMap> ReadKeks() const {
    absl::StatusOr<std::string> content = platform::ReadFile(keks_path_);
    if (absl::IsNotFound(content.status())) return KekMap();
    if (!content.ok()) return content.status();
    if (absl::Status s = platform::CheckOwnerOnly(keks_path_); !s.ok()) {
      return s;
    }
    return ParseKekFile(*content, keks_path_);
  }

  // Constant after construction.
  const std::string path_;
  const std::string keks_path_;
  const std::unique_ptr<Aead> aead_;

  // Serializes the read-modify-write of the KEK file.
  absl::Mutex mu_;
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
    return absl::Status(s.code(),
                        absl::StrCat("master key file: ", s.message()));
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
