#include "server/crypto/master_key.h"

#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/aead.h"
#include "server/crypto/hash.h"
#include "server/platform/files.h"
#include "tests/fakes/fake_random.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::testing::FileMode;
using ::sandyq::crypto::testing::IsDecryptionFailure;
using ::sandyq::crypto::testing::IsOk;
using ::sandyq::crypto::testing::ScopedTempDir;
using ::sandyq::crypto::testing::StatusIs;
using ::sandyq::testing::FakeRandom;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kHeader[] = "sandyq-master-key-v1";

class MasterKeyTest : public ::testing::Test {
 protected:
  std::unique_ptr<MasterKeyProvider> CreateAndOpen() {
    EXPECT_THAT(CreateFileMasterKey(path_, random_), IsOk());
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenFileMasterKey(path_, random_);
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }

  // Writes `content` as the key file with `mode`.
  void WriteKeyFile(absl::string_view content, mode_t mode = 0600) {
    ASSERT_THAT(platform::WriteFileAtomic(path_, content, mode), IsOk());
  }

  FakeRandom random_;
  ScopedTempDir dir_;
  const std::string path_ = dir_.File("master.key");
};

TEST_F(MasterKeyTest, CreatesAnOwnerOnlyFileInTheDocumentedFormat) {
  ASSERT_THAT(CreateFileMasterKey(path_, random_), IsOk());
  EXPECT_EQ(FileMode(path_), 0600);
  absl::StatusOr<std::string> content = platform::ReadFile(path_);
  ASSERT_TRUE(content.ok());
  EXPECT_THAT(*content, MatchesRegex("sandyq-master-key-v1\n[0-9a-f]{64}\n"));
}

TEST_F(MasterKeyTest, CreateRefusesToOverwrite) {
  ASSERT_THAT(CreateFileMasterKey(path_, random_), IsOk());
  const std::string before = *platform::ReadFile(path_);
  EXPECT_THAT(CreateFileMasterKey(path_, random_),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(*platform::ReadFile(path_), before);
}

TEST_F(MasterKeyTest, WrapsAndUnwraps) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  const SecretBytes kek = SecretBytes::Random(32, random_);
  absl::StatusOr<std::string> wrapped = provider->Wrap(kek, "kek:3");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(wrapped->size(), kek.size() + Aead::kOverhead);
  EXPECT_THAT(*wrapped, Not(HasSubstr(std::string(kek.view()))));
  absl::StatusOr<SecretBytes> unwrapped = provider->Unwrap(*wrapped, "kek:3");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(kek));
  // Each wrap draws a fresh nonce.
  EXPECT_NE(*provider->Wrap(kek, "kek:3"), *wrapped);
}

TEST_F(MasterKeyTest, ReopenedKeyUnwrapsEarlierWraps) {
  std::unique_ptr<MasterKeyProvider> first = CreateAndOpen();
  ASSERT_NE(first, nullptr);
  const SecretBytes kek = SecretBytes::Random(32, random_);
  absl::StatusOr<std::string> wrapped = first->Wrap(kek, "kek:1");
  ASSERT_TRUE(wrapped.ok());
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> second =
      OpenFileMasterKey(path_, random_);
  ASSERT_TRUE(second.ok());
  absl::StatusOr<SecretBytes> unwrapped = (*second)->Unwrap(*wrapped, "kek:1");
  ASSERT_TRUE(unwrapped.ok());
  EXPECT_TRUE(unwrapped->Equals(kek));
}

// The wrapping is exactly an Aead seal under the file's key with associated
// data "sandyq master wrap v1:" + context; stored wraps depend on it.
TEST_F(MasterKeyTest, WrapFormatIsAeadWithPrefixedContext) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  const std::string content = *platform::ReadFile(path_);
  const SecretBytes master(*FromHex(content.substr(sizeof(kHeader), 64)));
  absl::StatusOr<std::unique_ptr<Aead>> aead = Aead::New(master, random_);
  ASSERT_TRUE(aead.ok());
  const SecretBytes kek = SecretBytes::Random(32, random_);
  absl::StatusOr<std::string> wrapped = provider->Wrap(kek, "kek:7");
  ASSERT_TRUE(wrapped.ok());
  absl::StatusOr<std::string> plain =
      (*aead)->Decrypt(*wrapped, "sandyq master wrap v1:kek:7");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, kek.view());
}

TEST_F(MasterKeyTest, WrongContextIsRefusedGenerically) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::string> wrapped =
      provider->Wrap(SecretBytes::Random(32, random_), "kek:3");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_THAT(provider->Unwrap(*wrapped, "kek:4"), IsDecryptionFailure());
  EXPECT_THAT(provider->Unwrap(*wrapped, ""), IsDecryptionFailure());
  std::string altered = *wrapped;
  altered.back() ^= 1;
  EXPECT_THAT(provider->Unwrap(altered, "kek:3"), IsDecryptionFailure());
}

TEST_F(MasterKeyTest, AnotherMasterKeyCannotUnwrap) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  const std::string other_path = dir_.File("other.key");
  ASSERT_THAT(CreateFileMasterKey(other_path, random_), IsOk());
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> other =
      OpenFileMasterKey(other_path, random_);
  ASSERT_TRUE(other.ok());
  absl::StatusOr<std::string> wrapped =
      provider->Wrap(SecretBytes::Random(32, random_), "kek:1");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_THAT((*other)->Unwrap(*wrapped, "kek:1"), IsDecryptionFailure());
}

TEST_F(MasterKeyTest, DescribeNamesThePathOnly) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(provider->Describe(), absl::StrCat("file:", path_));
}

TEST_F(MasterKeyTest, MissingFileIsNotFound) {
  EXPECT_THAT(OpenFileMasterKey(path_, random_),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(MasterKeyTest, FileOpenToGroupOrOthersIsRefused) {
  ASSERT_THAT(CreateFileMasterKey(path_, random_), IsOk());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenFileMasterKey(path_, random_);
    EXPECT_THAT(provider, StatusIs(absl::StatusCode::kFailedPrecondition))
        << std::oct << mode;
    EXPECT_THAT(std::string(provider.status().message()), HasSubstr(path_));
  }
  ASSERT_EQ(::chmod(path_.c_str(), 0400), 0);
  EXPECT_TRUE(OpenFileMasterKey(path_, random_).ok());
}

TEST_F(MasterKeyTest, MalformedFilesAreRefusedWithoutEchoingThem) {
  const std::string hex64(64, 'a');
  const std::string secretish = "0123456789abcdef0123456789abcdef";
  const std::string cases[] = {
      "",
      absl::StrCat(kHeader, "\n"),
      absl::StrCat(hex64, "\n"),
      absl::StrCat("sandyq-master-key-v2\n", hex64, "\n"),
      absl::StrCat(kHeader, "\n", std::string(63, 'a'), "\n"),
      absl::StrCat(kHeader, "\n", std::string(65, 'a'), "\n"),
      absl::StrCat(kHeader, "\n", std::string(64, 'A'), "\n"),
      absl::StrCat(kHeader, "\n", std::string(62, 'a'), "zz\n"),
      absl::StrCat(kHeader, "\n", secretish, secretish, "\n\n"),
      absl::StrCat(kHeader, "\n", secretish, secretish, "\nextra\n"),
      absl::StrCat(kHeader, "\r\n", secretish, secretish, "\r\n"),
      absl::StrCat(" ", kHeader, "\n", hex64, "\n"),
  };
  for (const std::string& content : cases) {
    WriteKeyFile(content);
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenFileMasterKey(path_, random_);
    EXPECT_THAT(provider, StatusIs(absl::StatusCode::kInvalidArgument))
        << content;
    const std::string message(provider.status().message());
    EXPECT_THAT(message, HasSubstr(path_));
    EXPECT_THAT(message, Not(HasSubstr(secretish)));
    EXPECT_THAT(message, Not(HasSubstr("aaaaaaaa")));
  }
}

TEST_F(MasterKeyTest, AcceptsAFileWithoutTheFinalNewline) {
  WriteKeyFile(absl::StrCat(kHeader, "\n", std::string(64, '7')));
  EXPECT_TRUE(OpenFileMasterKey(path_, random_).ok());
}

}  // namespace
}  // namespace sandyq::crypto
