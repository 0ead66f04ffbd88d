// The PKCS#11 master-key provider against a real SoftHSM2 token that each
// test creates (tests/fakes/softhsm_token.h). Skipped when SoftHSM2 is not
// installed.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/internal/pkcs11_util.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"
#include "server/platform/files.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/softhsm_token.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::internal::Pkcs11Attribute;
using ::sandyq::crypto::internal::Pkcs11BoolAttribute;
using ::sandyq::crypto::internal::Pkcs11Session;
using ::sandyq::crypto::testing::IsDecryptionFailure;
using ::sandyq::crypto::testing::IsOk;
using ::sandyq::crypto::testing::ScopedTempDir;
using ::sandyq::crypto::testing::StatusIs;
using ::sandyq::testing::FakeRandom;
using ::sandyq::testing::SoftHsmToken;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kToken[] = "sandyq-test";
constexpr char kKeyLabel[] = "master";
constexpr char kPin[] = "user-pin-731946";
constexpr char kWrongPin[] = "wrong-pin-582013";

class Pkcs11MasterKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SoftHsmToken>> token =
        SoftHsmToken::Create(kToken, kPin);
    // SoftHSM2 missing is a failure, not a skip: deploy/dev/test installs it,
    // and a skipped HSM test would pass CI without testing anything.
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = *std::move(token);
    options_.module_path = token_->module_path();
    options_.token_label = kToken;
    options_.key_label = kKeyLabel;
    options_.pin = kPin;
  }

  std::unique_ptr<MasterKeyProvider> Open(const Pkcs11Options& options) {
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenPkcs11MasterKey(options, random_);
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }
  std::unique_ptr<MasterKeyProvider> Open() { return Open(options_); }

  std::unique_ptr<MasterKeyProvider> CreateAndOpen() {
    EXPECT_THAT(CreatePkcs11MasterKey(options_), IsOk());
    return Open();
  }

  // A session of the test's own, to look into the token.
  std::unique_ptr<Pkcs11Session> Session() {
    absl::StatusOr<std::unique_ptr<Pkcs11Session>> session =
        Pkcs11Session::Open(options_.module_path, kToken, kPin);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? *std::move(session) : nullptr;
  }

  // Generates an AES-256 key labelled `label` with the given attributes,
  // bypassing CreatePkcs11MasterKey.
  void GenerateAesKey(const std::string& label, bool sensitive,
                      bool extractable) {
    std::unique_ptr<Pkcs11Session> session = Session();
    ASSERT_NE(session, nullptr);
    CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG size = 32;
    CK_ATTRIBUTE key_template[] = {
        Pkcs11Attribute(CKA_VALUE_LEN, &size, sizeof(size)),
        Pkcs11BoolAttribute(CKA_TOKEN, true),
        Pkcs11BoolAttribute(CKA_PRIVATE, true),
        Pkcs11BoolAttribute(CKA_SENSITIVE, sensitive),
        Pkcs11BoolAttribute(CKA_EXTRACTABLE, extractable),
        Pkcs11BoolAttribute(CKA_ENCRYPT, true),
        Pkcs11BoolAttribute(CKA_DECRYPT, true),
        Pkcs11Attribute(CKA_LABEL, label),
    };
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    ASSERT_EQ(session->functions()->C_GenerateKey(
                  session->handle(), &mechanism, key_template,
                  std::size(key_template), &key),
              static_cast<CK_RV>(CKR_OK));
  }

  FakeRandom random_;
  std::unique_ptr<SoftHsmToken> token_;
  Pkcs11Options options_;
};

TEST_F(Pkcs11MasterKeyTest, WrapsAndUnwraps) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  const SecretBytes kek = SecretBytes::Random(32, random_);
  absl::StatusOr<std::string> wrapped = provider->Wrap(kek, "kek:3");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  // 0x02 || IV (12) || ciphertext || tag (16).
  EXPECT_EQ(wrapped->size(), 1 + 12 + kek.size() + 16);
  EXPECT_EQ((*wrapped)[0], '\x02');
  EXPECT_THAT(*wrapped, Not(HasSubstr(std::string(kek.view()))));
  absl::StatusOr<SecretBytes> unwrapped = provider->Unwrap(*wrapped, "kek:3");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(kek));
  // A fresh IV per wrap.
  absl::StatusOr<std::string> again = provider->Wrap(kek, "kek:3");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->substr(1, 12), wrapped->substr(1, 12));
}

TEST_F(Pkcs11MasterKeyTest, DescribeNamesTokenAndKeyOnly) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(provider->Describe(), "pkcs11:token=sandyq-test;key=master");
}

TEST_F(Pkcs11MasterKeyTest, WrongContextOrAlteredBytesAreRefusedGenerically) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::string> wrapped =
      provider->Wrap(SecretBytes::Random(32, random_), "kek:3");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_THAT(provider->Unwrap(*wrapped, "kek:4"), IsDecryptionFailure());
  EXPECT_THAT(provider->Unwrap(*wrapped, ""), IsDecryptionFailure());
  for (size_t i : {size_t{0}, size_t{1}, size_t{13}, wrapped->size() - 1}) {
    std::string altered = *wrapped;
    altered[i] ^= 1;
    EXPECT_THAT(provider->Unwrap(altered, "kek:3"), IsDecryptionFailure()) << i;
  }
  EXPECT_THAT(
      provider->Unwrap(wrapped->substr(0, wrapped->size() - 1), "kek:3"),
      IsDecryptionFailure());
  EXPECT_THAT(provider->Unwrap(wrapped->substr(0, 28), "kek:3"),
              IsDecryptionFailure());
  EXPECT_THAT(provider->Unwrap("", "kek:3"), IsDecryptionFailure());
  // The session is still usable after all those failures.
  EXPECT_TRUE(provider->Unwrap(*wrapped, "kek:3").ok());
}

TEST_F(Pkcs11MasterKeyTest, BlobsOfTheFileProviderAreRefusedAndViceVersa) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  ScopedTempDir dir;
  const std::string path = dir.File("master.key");
  ASSERT_THAT(CreateFileMasterKey(path, random_), IsOk());
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> file =
      OpenFileMasterKey(path, random_);
  ASSERT_TRUE(file.ok());
  const SecretBytes kek = SecretBytes::Random(32, random_);
  absl::StatusOr<std::string> from_file = (*file)->Wrap(kek, "kek:1");
  ASSERT_TRUE(from_file.ok());
  EXPECT_THAT(provider->Unwrap(*from_file, "kek:1"), IsDecryptionFailure());
  // Even with the version byte changed to this provider's.
  std::string relabelled = *from_file;
  relabelled[0] = '\x02';
  EXPECT_THAT(provider->Unwrap(relabelled, "kek:1"), IsDecryptionFailure());
  absl::StatusOr<std::string> from_hsm = provider->Wrap(kek, "kek:1");
  ASSERT_TRUE(from_hsm.ok());
  EXPECT_THAT((*file)->Unwrap(*from_hsm, "kek:1"), IsDecryptionFailure());
}

TEST_F(Pkcs11MasterKeyTest, ReopenedProviderUnwrapsEarlierWraps) {
  const SecretBytes kek = SecretBytes::Random(32, random_);
  std::string wrapped;
  {
    std::unique_ptr<MasterKeyProvider> first = CreateAndOpen();
    ASSERT_NE(first, nullptr);
    wrapped = *first->Wrap(kek, "index-root");
  }
  std::unique_ptr<MasterKeyProvider> second = Open();
  ASSERT_NE(second, nullptr);
  absl::StatusOr<SecretBytes> unwrapped = second->Unwrap(wrapped, "index-root");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(kek));
}

TEST_F(Pkcs11MasterKeyTest, KeksArePutListedReadAndDestroyedAcrossReopens) {
  const SecretBytes kek1 = SecretBytes::Random(32, random_);
  const SecretBytes kek2 = SecretBytes::Random(32, random_);
  const SecretBytes kek3 = SecretBytes::Random(32, random_);
  {
    std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
    ASSERT_NE(provider, nullptr);
    EXPECT_THAT(*provider->ListKeks(), IsEmpty());
    EXPECT_THAT(provider->GetKek(1), StatusIs(absl::StatusCode::kNotFound));
    ASSERT_THAT(provider->PutKek(2, kek2), IsOk());
    ASSERT_THAT(provider->PutKek(1, kek1), IsOk());
    ASSERT_THAT(provider->PutKek(3, kek3), IsOk());
    EXPECT_THAT(provider->PutKek(2, kek1),
                StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_THAT(*provider->ListKeks(), ElementsAre(1, 2, 3));
    absl::StatusOr<SecretBytes> got = provider->GetKek(2);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(got->Equals(kek2));  // not overwritten by the refused put
  }
  {
    std::unique_ptr<MasterKeyProvider> provider = Open();
    ASSERT_NE(provider, nullptr);
    EXPECT_THAT(*provider->ListKeks(), ElementsAre(1, 2, 3));
    ASSERT_THAT(provider->DestroyKek(2), IsOk());
    EXPECT_THAT(provider->DestroyKek(2), IsOk());   // absent: OK
    EXPECT_THAT(provider->DestroyKek(99), IsOk());  // never existed: OK
    EXPECT_THAT(provider->GetKek(2), StatusIs(absl::StatusCode::kNotFound));
  }
  std::unique_ptr<MasterKeyProvider> provider = Open();
  ASSERT_NE(provider, nullptr);
  EXPECT_THAT(*provider->ListKeks(), ElementsAre(1, 3));
  EXPECT_THAT(provider->GetKek(2), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<SecretBytes> got1 = provider->GetKek(1);
  absl::StatusOr<SecretBytes> got3 = provider->GetKek(3);
  ASSERT_TRUE(got1.ok() && got3.ok());
  EXPECT_TRUE(got1->Equals(kek1));
  EXPECT_TRUE(got3->Equals(kek3));
  // A destroyed version can be stored again (the keyring never reuses one,
  // but the store does not forbid it).
  EXPECT_THAT(provider->PutKek(2, kek1), IsOk());
}

TEST_F(Pkcs11MasterKeyTest, KeksArePrivateDataObjectsHoldingOnlyTheWrappedKek) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  const SecretBytes kek = SecretBytes::Random(32, random_);
  ASSERT_THAT(provider->PutKek(7, kek), IsOk());

  std::unique_ptr<Pkcs11Session> session = Session();
  ASSERT_NE(session, nullptr);
  CK_OBJECT_CLASS data_class = CKO_DATA;
  const std::string label = "master/kek/7";
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found = session->FindObjects({
      Pkcs11Attribute(CKA_CLASS, &data_class, sizeof(data_class)),
      Pkcs11Attribute(CKA_LABEL, label),
  });
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  const CK_OBJECT_HANDLE object = found->front();
  EXPECT_THAT(session->GetBoolAttribute(object, CKA_TOKEN),
              ::sandyq::testing::IsOkAndHolds(true));
  EXPECT_THAT(session->GetBoolAttribute(object, CKA_PRIVATE),
              ::sandyq::testing::IsOkAndHolds(true));
  EXPECT_THAT(session->GetAttribute(object, CKA_APPLICATION),
              ::sandyq::testing::IsOkAndHolds(std::string("sandyq")));
  absl::StatusOr<std::string> value = session->GetAttribute(object, CKA_VALUE);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->size(), 1 + 12 + 32 + 16);
  EXPECT_THAT(*value, Not(HasSubstr(std::string(kek.view()))));
  // It is exactly the master key's wrap of the KEK under "kek:7".
  absl::StatusOr<SecretBytes> unwrapped = provider->Unwrap(*value, "kek:7");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(kek));
  EXPECT_THAT(provider->Unwrap(*value, "kek:8"), IsDecryptionFailure());
}

TEST_F(Pkcs11MasterKeyTest, KeksOfAnotherMasterKeyInTheTokenAreNotListed) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  Pkcs11Options other_options = options_;
  other_options.key_label = "other";
  ASSERT_THAT(CreatePkcs11MasterKey(other_options), IsOk());
  std::unique_ptr<MasterKeyProvider> other = Open(other_options);
  ASSERT_NE(other, nullptr);
  ASSERT_THAT(provider->PutKek(1, SecretBytes::Random(32, random_)), IsOk());
  ASSERT_THAT(other->PutKek(5, SecretBytes::Random(32, random_)), IsOk());
  EXPECT_THAT(*provider->ListKeks(), ElementsAre(1));
  EXPECT_THAT(*other->ListKeks(), ElementsAre(5));
  EXPECT_THAT(provider->GetKek(5), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(provider->DestroyKek(5), IsOk());
  EXPECT_THAT(*other->ListKeks(), ElementsAre(5));
}

TEST_F(Pkcs11MasterKeyTest, CreateRefusesAnExistingLabel) {
  ASSERT_THAT(CreatePkcs11MasterKey(options_), IsOk());
  absl::Status again = CreatePkcs11MasterKey(options_);
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(std::string(again.message()), HasSubstr(kKeyLabel));
  // The first key is intact and unique.
  EXPECT_NE(Open(), nullptr);
}

TEST_F(Pkcs11MasterKeyTest, WrongPinIsPermissionDeniedWithoutThePin) {
  ASSERT_THAT(CreatePkcs11MasterKey(options_), IsOk());
  Pkcs11Options wrong = options_;
  wrong.pin = kWrongPin;
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
      OpenPkcs11MasterKey(wrong, random_);
  EXPECT_THAT(provider, StatusIs(absl::StatusCode::kPermissionDenied,
                                 "wrong PIN for token sandyq-test"));
  EXPECT_THAT(std::string(provider.status().message()),
              Not(HasSubstr(kWrongPin)));
  EXPECT_THAT(CreatePkcs11MasterKey(wrong),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "wrong PIN for token sandyq-test"));
  // SoftHSM2 does not lock the PIN after one failure.
  EXPECT_NE(Open(), nullptr);
}

// PKCS#11 logins are process-wide: while one session is logged in, C_Login
// answers CKR_USER_ALREADY_LOGGED_IN without checking the PIN. The provider
// must still refuse a wrong one.
TEST_F(Pkcs11MasterKeyTest, WrongPinIsRefusedWhileAnotherProviderIsLoggedIn) {
  std::unique_ptr<MasterKeyProvider> first = CreateAndOpen();
  ASSERT_NE(first, nullptr);
  Pkcs11Options wrong = options_;
  wrong.pin = kWrongPin;
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> second =
      OpenPkcs11MasterKey(wrong, random_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(std::string(second.status().message()),
              Not(HasSubstr(kWrongPin)));
  EXPECT_THAT(std::string(second.status().message()), Not(HasSubstr(kPin)));
  // The right PIN works, and the first provider is unaffected.
  std::unique_ptr<MasterKeyProvider> third = Open();
  ASSERT_NE(third, nullptr);
  EXPECT_TRUE(first->Wrap(SecretBytes::Random(32, random_), "x").ok());
}

TEST_F(Pkcs11MasterKeyTest, ProvidersShareTheModuleAndSurviveEachOther) {
  std::unique_ptr<MasterKeyProvider> first = CreateAndOpen();
  ASSERT_NE(first, nullptr);
  std::unique_ptr<MasterKeyProvider> second = Open();
  ASSERT_NE(second, nullptr);
  const SecretBytes kek = SecretBytes::Random(32, random_);
  absl::StatusOr<std::string> wrapped = first->Wrap(kek, "kek:1");
  ASSERT_TRUE(wrapped.ok());
  // Closing the first must neither finalize the module nor log out the
  // token under the second.
  first.reset();
  absl::StatusOr<SecretBytes> unwrapped = second->Unwrap(*wrapped, "kek:1");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(kek));
  EXPECT_THAT(second->PutKek(1, kek), IsOk());
  EXPECT_THAT(*second->ListKeks(), ElementsAre(1));
}

TEST_F(Pkcs11MasterKeyTest, MissingKeyIsNotFound) {
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
      OpenPkcs11MasterKey(options_, random_);
  EXPECT_THAT(provider, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(provider.status().message()), HasSubstr(kKeyLabel));
  EXPECT_THAT(std::string(provider.status().message()), Not(HasSubstr(kPin)));
}

TEST_F(Pkcs11MasterKeyTest, UnknownTokenIsNotFound) {
  Pkcs11Options options = options_;
  options.token_label = "no-such-token";
  absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
      OpenPkcs11MasterKey(options, random_);
  EXPECT_THAT(provider, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(provider.status().message()),
              HasSubstr("no-such-token"));
  EXPECT_THAT(CreatePkcs11MasterKey(options),
              StatusIs(absl::StatusCode::kNotFound));
  // A prefix of the real label does not match the blank-padded one.
  options.token_label = "sandyq";
  EXPECT_THAT(OpenPkcs11MasterKey(options, random_),
              StatusIs(absl::StatusCode::kNotFound));
  options.token_label = std::string(40, 'x');
  EXPECT_THAT(OpenPkcs11MasterKey(options, random_),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(Pkcs11MasterKeyTest, TwoTokensWithTheLabelAreRefused) {
  ASSERT_THAT(token_->AddToken(kToken, kPin), IsOk());
  EXPECT_THAT(OpenPkcs11MasterKey(options_, random_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(Pkcs11MasterKeyTest, UnloadableModuleIsFailedPrecondition) {
  ScopedTempDir dir;
  const std::string not_a_library = dir.File("libnot-pkcs11.so");
  ASSERT_THAT(platform::WriteFileAtomic(not_a_library, "hello", 0600), IsOk());
  for (const std::string& path :
       {std::string("/nonexistent/libsofthsm2.so"), not_a_library}) {
    Pkcs11Options options = options_;
    options.module_path = path;
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenPkcs11MasterKey(options, random_);
    EXPECT_THAT(provider, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(std::string(provider.status().message()), HasSubstr(path));
    EXPECT_THAT(CreatePkcs11MasterKey(options),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

TEST_F(Pkcs11MasterKeyTest, ExtractableOrNonSensitiveKeyIsRefused) {
  GenerateAesKey("extractable", /*sensitive=*/true, /*extractable=*/true);
  GenerateAesKey("readable", /*sensitive=*/false, /*extractable=*/false);
  for (const char* label : {"extractable", "readable"}) {
    Pkcs11Options options = options_;
    options.key_label = label;
    absl::StatusOr<std::unique_ptr<MasterKeyProvider>> provider =
        OpenPkcs11MasterKey(options, random_);
    EXPECT_THAT(provider, StatusIs(absl::StatusCode::kFailedPrecondition))
        << label;
    EXPECT_THAT(std::string(provider.status().message()), HasSubstr(label));
  }
}

TEST_F(Pkcs11MasterKeyTest, MasterKeyCannotLeaveTheToken) {
  ASSERT_THAT(CreatePkcs11MasterKey(options_), IsOk());
  std::unique_ptr<Pkcs11Session> session = Session();
  ASSERT_NE(session, nullptr);
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  const std::string label = kKeyLabel;
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found = session->FindObjects({
      Pkcs11Attribute(CKA_CLASS, &key_class, sizeof(key_class)),
      Pkcs11Attribute(CKA_LABEL, label),
  });
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  const CK_OBJECT_HANDLE key = found->front();

  uint8_t value[64];
  CK_ATTRIBUTE attribute = Pkcs11Attribute(CKA_VALUE, value, sizeof(value));
  EXPECT_EQ(session->functions()->C_GetAttributeValue(session->handle(), key,
                                                      &attribute, 1),
            static_cast<CK_RV>(CKR_ATTRIBUTE_SENSITIVE));
  EXPECT_EQ(attribute.ulValueLen, CK_UNAVAILABLE_INFORMATION);
  for (CK_ATTRIBUTE_TYPE type :
       {CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE,
        CKA_NEVER_EXTRACTABLE, CKA_ENCRYPT, CKA_DECRYPT}) {
    EXPECT_THAT(session->GetBoolAttribute(key, type),
                ::sandyq::testing::IsOkAndHolds(true))
        << type;
  }
  for (CK_ATTRIBUTE_TYPE type : {CKA_EXTRACTABLE, CKA_WRAP, CKA_UNWRAP}) {
    EXPECT_THAT(session->GetBoolAttribute(key, type),
                ::sandyq::testing::IsOkAndHolds(false))
        << type;
  }
  EXPECT_THAT(session->GetUlongAttribute(key, CKA_KEY_TYPE),
              ::sandyq::testing::IsOkAndHolds(CKK_AES));
  EXPECT_THAT(session->GetUlongAttribute(key, CKA_VALUE_LEN),
              ::sandyq::testing::IsOkAndHolds(32u));
  // Nor can it be made extractable afterwards.
  CK_ATTRIBUTE loosen = Pkcs11BoolAttribute(CKA_EXTRACTABLE, true);
  EXPECT_NE(session->functions()->C_SetAttributeValue(session->handle(), key,
                                                      &loosen, 1),
            static_cast<CK_RV>(CKR_OK));
}

TEST_F(Pkcs11MasterKeyTest, ConcurrentCallsShareTheSessionSafely) {
  std::unique_ptr<MasterKeyProvider> provider = CreateAndOpen();
  ASSERT_NE(provider, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      FakeRandom random(100 + t);
      for (int i = 0; i < 50; ++i) {
        const SecretBytes key = SecretBytes::Random(32, random);
        const std::string context = absl::StrCat("t", t, ":", i);
        absl::StatusOr<std::string> wrapped = provider->Wrap(key, context);
        if (!wrapped.ok()) {
          ++failures;
          continue;
        }
        absl::StatusOr<SecretBytes> unwrapped =
            provider->Unwrap(*wrapped, context);
        if (!unwrapped.ok() || !unwrapped->Equals(key)) ++failures;
      }
      if (!provider->PutKek(10 + t, SecretBytes::Random(32, random)).ok()) {
        ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(*provider->ListKeks(), ElementsAre(10, 11, 12, 13));
}

}  // namespace
}  // namespace sandyq::crypto
