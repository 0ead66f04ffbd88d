#include "server/crypto/master_key.h"

#include <sys/stat.h>

#include <string>
#include <thread>
#include <vector>

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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
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

// ---------------------------------------------------------------------------
// The KEK store beside the file master key ("<path>.keks").

class FileKekStoreTest : public MasterKeyTest {
 protected:
  void SetUp() override {
    provider_ = CreateAndOpen();
    ASSERT_NE(provider_, nullptr);
  }

  std::unique_ptr<MasterKeyProvider> Reopen() {
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenFileMasterKey(path_, random_);
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }

  std::string KeksFile() const { return *platform::ReadFile(keks_path_); }

  const std::string keks_path_ = path_ + ".keks";
  std::unique_ptr<MasterKeyProvider> provider_;
};

TEST_F(FileKekStoreTest, StartsEmptyWithoutAFile) {
  EXPECT_THAT(provider_->ListKeks(),
              ::sandyq::testing::IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(provider_->GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(provider_->DestroyKek(1), IsOk());
  EXPECT_FALSE(platform::PathExists(keks_path_));
}

TEST_F(FileKekStoreTest, PutsGetsListsAndDestroys) {
  const SecretBytes kek1 = SecretBytes::Random(32, random_);
  const SecretBytes kek2 = SecretBytes::Random(32, random_);
  ASSERT_THAT(provider_->PutKek(2, kek2), IsOk());
  ASSERT_THAT(provider_->PutKek(1, kek1), IsOk());
  EXPECT_THAT(*provider_->ListKeks(), ElementsAre(1, 2));
  absl::StatusOr<SecretBytes> got = provider_->GetKek(1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->Equals(kek1));
  got = provider_->GetKek(2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->Equals(kek2));
  ASSERT_THAT(provider_->DestroyKek(1), IsOk());
  EXPECT_THAT(provider_->GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(*provider_->ListKeks(), ElementsAre(2));
  EXPECT_THAT(provider_->DestroyKek(1), IsOk());  // absent: OK
  ASSERT_THAT(provider_->DestroyKek(2), IsOk());
  EXPECT_THAT(*provider_->ListKeks(), IsEmpty());
  EXPECT_EQ(KeksFile(), "sandyq-keks-v1\n");
}

TEST_F(FileKekStoreTest, PutRefusesAnExistingVersionAndKeepsTheFile) {
  const SecretBytes kek = SecretBytes::Random(32, random_);
  ASSERT_THAT(provider_->PutKek(3, kek), IsOk());
  const std::string before = KeksFile();
  EXPECT_THAT(provider_->PutKek(3, SecretBytes::Random(32, random_)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(KeksFile(), before);
  EXPECT_TRUE(provider_->GetKek(3)->Equals(kek));
}

TEST_F(FileKekStoreTest, FileIsOwnerOnlyInTheDocumentedFormatWithoutClearKeks) {
  std::vector<SecretBytes> keks;
  for (uint32_t version : {10u, 2u, 7u}) {
    keks.push_back(SecretBytes::Random(32, random_));
    ASSERT_THAT(provider_->PutKek(version, keks.back()), IsOk());
  }
  EXPECT_EQ(FileMode(keks_path_), 0600);
  const std::string content = KeksFile();
  const std::string hex = "[0-9a-f]{" + std::to_string(2 * (32 + 29)) + "}";
  EXPECT_THAT(content, MatchesRegex("sandyq-keks-v1\n2 " + hex + "\n7 " + hex +
                                    "\n10 " + hex + "\n"));
  for (const SecretBytes& kek : keks) {
    EXPECT_THAT(content, Not(HasSubstr(std::string(kek.view()))));
    EXPECT_THAT(content, Not(HasSubstr(ToHex(kek.view()))));
  }
  // Each line is the master key's wrap of the KEK under "kek:<version>".
  const size_t line = content.find("\n7 ") + 3;
  const std::string wrapped =
      *FromHex(content.substr(line, content.find('\n', line) - line));
  absl::StatusOr<SecretBytes> unwrapped = provider_->Unwrap(wrapped, "kek:7");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(keks[2]));
  EXPECT_FALSE(platform::PathExists(keks_path_ + ".tmp"));
}

TEST_F(FileKekStoreTest, KeksPersistAndDestroyedOnesStayGoneAcrossReopen) {
  const SecretBytes kek1 = SecretBytes::Random(32, random_);
  const SecretBytes kek2 = SecretBytes::Random(32, random_);
  ASSERT_THAT(provider_->PutKek(1, kek1), IsOk());
  ASSERT_THAT(provider_->PutKek(2, kek2), IsOk());
  ASSERT_THAT(provider_->DestroyKek(1), IsOk());
  provider_.reset();
  std::unique_ptr<MasterKeyProvider> reopened = Reopen();
  ASSERT_NE(reopened, nullptr);
  EXPECT_THAT(*reopened->ListKeks(), ElementsAre(2));
  EXPECT_THAT(reopened->GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<SecretBytes> got = reopened->GetKek(2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->Equals(kek2));
}

TEST_F(FileKekStoreTest, ReadsSeeChangesMadeByAnotherProvider) {
  std::unique_ptr<MasterKeyProvider> other = Reopen();
  ASSERT_NE(other, nullptr);
  ASSERT_THAT(other->PutKek(4, SecretBytes::Random(32, random_)), IsOk());
  EXPECT_THAT(*provider_->ListKeks(), ElementsAre(4));
  ASSERT_THAT(other->DestroyKek(4), IsOk());
  EXPECT_THAT(provider_->GetKek(4), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(FileKekStoreTest, AWrapMovedToAnotherVersionDoesNotUnwrap) {
  ASSERT_THAT(provider_->PutKek(1, SecretBytes::Random(32, random_)), IsOk());
  const std::string content = KeksFile();
  // Relabel line "1 <hex>" as version 2.
  std::string moved = content;
  moved.replace(moved.find("\n1 "), 3, "\n2 ");
  ASSERT_THAT(platform::WriteFileAtomic(keks_path_, moved, 0600), IsOk());
  EXPECT_THAT(*provider_->ListKeks(), ElementsAre(2));
  EXPECT_THAT(provider_->GetKek(2), IsDecryptionFailure());
}

TEST_F(FileKekStoreTest, AnotherMasterKeyCannotOpenTheKeks) {
  ASSERT_THAT(provider_->PutKek(1, SecretBytes::Random(32, random_)), IsOk());
  const std::string other_path = dir_.File("other.key");
  ASSERT_THAT(CreateFileMasterKey(other_path, random_), IsOk());
  ASSERT_THAT(platform::WriteFileAtomic(other_path + ".keks", KeksFile(), 0600),
              IsOk());
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> other =
      OpenFileMasterKey(other_path, random_);
  ASSERT_TRUE(other.ok());
  EXPECT_THAT((*other)->ListKeks(),
              ::sandyq::testing::IsOkAndHolds(ElementsAre(1)));
  EXPECT_THAT((*other)->GetKek(1), IsDecryptionFailure());
}

TEST_F(FileKekStoreTest, FileOpenToGroupOrOthersIsRefused) {
  ASSERT_THAT(provider_->PutKek(1, SecretBytes::Random(32, random_)), IsOk());
  ASSERT_EQ(::chmod(keks_path_.c_str(), 0644), 0);
  EXPECT_THAT(provider_->ListKeks(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(provider_->GetKek(1),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(provider_->PutKek(2, SecretBytes::Random(32, random_)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FileKekStoreTest, MalformedFileIsDataLossNamingThePathOnly) {
  const std::string wrapped_hex = std::string(122, 'a');
  const std::string cases[] = {
      "",
      "sandyq-keks-v1",
      "sandyq-keks-v2\n",
      "sandyq-keks-v1\n\n",
      absl::StrCat("sandyq-keks-v1\n1 ", wrapped_hex),
      absl::StrCat("sandyq-keks-v1\n1  ", wrapped_hex, "\n"),
      absl::StrCat("sandyq-keks-v1\n01 ", wrapped_hex, "\n"),
      absl::StrCat("sandyq-keks-v1\n-1 ", wrapped_hex, "\n"),
      absl::StrCat("sandyq-keks-v1\n4294967296 ", wrapped_hex, "\n"),
      absl::StrCat("sandyq-keks-v1\nx ", wrapped_hex, "\n"),
      absl::StrCat("sandyq-keks-v1\n1 ", std::string(122, 'A'), "\n"),
      absl::StrCat("sandyq-keks-v1\n1 ", std::string(121, 'a'), "\n"),
      "sandyq-keks-v1\n1 \n",
      "sandyq-keks-v1\n1\n",
      absl::StrCat("sandyq-keks-v1\n2 ", wrapped_hex, "\n1 ", wrapped_hex,
                   "\n"),
      absl::StrCat("sandyq-keks-v1\n1 ", wrapped_hex, "\n1 ", wrapped_hex,
                   "\n"),
      absl::StrCat("sandyq-keks-v1\r\n1 ", wrapped_hex, "\r\n"),
  };
  for (const std::string& content : cases) {
    ASSERT_THAT(platform::WriteFileAtomic(keks_path_, content, 0600), IsOk());
    absl::StatusOr<std::vector<uint32_t>> listed = provider_->ListKeks();
    EXPECT_THAT(listed, StatusIs(absl::StatusCode::kDataLoss)) << content;
    const std::string message(listed.status().message());
    EXPECT_THAT(message, HasSubstr(keks_path_));
    EXPECT_THAT(message, Not(HasSubstr("aaaaaaaa")));
    EXPECT_THAT(message, Not(HasSubstr("AAAAAAAA")));
    EXPECT_THAT(provider_->GetKek(1), StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_THAT(provider_->PutKek(9, SecretBytes::Random(32, random_)),
                StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_THAT(provider_->DestroyKek(1),
                StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_EQ(*platform::ReadFile(keks_path_), content);  // left alone
  }
}

TEST_F(FileKekStoreTest, ConcurrentPutsAreAllKept) {
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 8; ++t) {
    threads.emplace_back([this, t] {
      FakeRandom random(t + 1);
      for (uint32_t i = 0; i < 5; ++i) {
        EXPECT_THAT(
            provider_->PutKek(1 + t * 5 + i, SecretBytes::Random(32, random)),
            IsOk());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::StatusOr<std::vector<uint32_t>> listed = provider_->ListKeks();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 40u);
  EXPECT_EQ(listed->front(), 1u);
  EXPECT_EQ(listed->back(), 40u);
}

}  // namespace
}  // namespace sandyq::crypto
