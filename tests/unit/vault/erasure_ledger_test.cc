#include "server/vault/erasure_ledger.h"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/platform/files.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::vault {
namespace {

using ::sandyq::testing::IsOk;
using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kHeader[] = "sandyq-erasures-v1\n";
// 2026-01-01T00:00:00Z.
const absl::Time kTime = absl::FromUnixSeconds(1767225600);

// A subject hash: 32 bytes of `b`.
std::string Hash(char b) { return std::string(32, b); }
// Its line in the file: "<seq> <64 hex digits> <micros> <receipt>".
std::string Line(uint64_t seq, char b, absl::Time time,
                 absl::string_view receipt) {
  const char hex[] = "0123456789abcdef";
  const unsigned char u = static_cast<unsigned char>(b);
  std::string digits;
  for (int i = 0; i < 32; ++i) {
    digits.push_back(hex[u >> 4]);
    digits.push_back(hex[u & 0xf]);
  }
  return absl::StrCat(seq, " ", digits, " ", absl::ToUnixMicros(time), " ",
                      receipt);
}

std::string ReadOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> text = platform::ReadFile(path);
  EXPECT_THAT(text, IsOk());
  return text.value_or("");
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void WriteRaw(const std::string& path, absl::string_view text) {
  ASSERT_THAT(platform::WriteFileAtomic(path, text, 0600), IsOk());
}

std::unique_ptr<ErasureLedger> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<ErasureLedger>> ledger =
      ErasureLedger::Open(path);
  EXPECT_THAT(ledger, IsOk());
  return ledger.ok() ? std::move(*ledger) : nullptr;
}

TEST(ErasureLedgerTest, NewLedgerIsJustTheHeaderAndOwnerOnly) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->last_seq(), 0u);
  EXPECT_THAT(ledger->Since(0), IsEmpty());
  EXPECT_EQ(ledger->path(), path);
  EXPECT_EQ(ReadOrEmpty(path), kHeader);
  EXPECT_EQ(ModeOf(path), 0600u);
}

TEST(ErasureLedgerTest, AppendsNumberedLinesInTheDocumentedFormat) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
  ASSERT_NE(ledger, nullptr);

  absl::StatusOr<Erasure> first = ledger->Append(Hash('\xab'), kTime, "er_1");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->seq, 1u);
  EXPECT_EQ(first->subject_hash, Hash('\xab'));
  EXPECT_EQ(first->time, kTime);
  EXPECT_EQ(first->receipt_id, "er_1");
  const absl::Time later = kTime + absl::Microseconds(1500001);
  absl::StatusOr<Erasure> second = ledger->Append(Hash('\x01'), later, "er_2");
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->seq, 2u);
  EXPECT_EQ(ledger->last_seq(), 2u);

  // Golden: the format must not drift, older servers and restores read it.
  EXPECT_EQ(ReadOrEmpty(path),
            absl::StrCat(kHeader, Line(1, '\xab', kTime, "er_1"), "\n",
                         Line(2, '\x01', later, "er_2"), "\n"));
  EXPECT_EQ(Line(1, '\xab', kTime, "er_1"),
            "1 abababababababababababababababababababababababababababababababab"
            " 1767225600000000 er_1");
  EXPECT_EQ(ModeOf(path), 0600u);
}

TEST(ErasureLedgerTest, SinceReturnsTheEntriesAfterASequenceNumber) {
  ScopedTempDir dir;
  std::unique_ptr<ErasureLedger> ledger = OpenOrDie(dir.File("erasures"));
  ASSERT_NE(ledger, nullptr);
  for (char b : {'a', 'b', 'c'}) {
    ASSERT_THAT(
        ledger->Append(Hash(b), kTime, absl::StrCat("er_", std::string(1, b))),
        IsOk());
  }
  EXPECT_THAT(ledger->Since(0),
              ElementsAre(Field(&Erasure::seq, 1u), Field(&Erasure::seq, 2u),
                          Field(&Erasure::seq, 3u)));
  EXPECT_THAT(ledger->Since(1),
              ElementsAre(Field(&Erasure::receipt_id, "er_b"),
                          Field(&Erasure::receipt_id, "er_c")));
  EXPECT_THAT(ledger->Since(3), IsEmpty());
  EXPECT_THAT(ledger->Since(99), IsEmpty());
}

TEST(ErasureLedgerTest, ReopeningKeepsEveryEntryAndContinuesTheNumbering) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  {
    std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
    ASSERT_NE(ledger, nullptr);
    ASSERT_THAT(ledger->Append(Hash('a'), kTime, "er_a"), IsOk());
    ASSERT_THAT(ledger->Append(Hash('b'), kTime + absl::Seconds(1), "er_b"),
                IsOk());
  }
  std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->last_seq(), 2u);
  std::vector<Erasure> entries = ledger->Since(0);
  ASSERT_THAT(entries, SizeIs(2));
  EXPECT_EQ(entries[0].seq, 1u);
  EXPECT_EQ(entries[0].subject_hash, Hash('a'));
  EXPECT_EQ(entries[0].time, kTime);
  EXPECT_EQ(entries[0].receipt_id, "er_a");
  EXPECT_EQ(entries[1].seq, 2u);
  EXPECT_EQ(entries[1].subject_hash, Hash('b'));
  EXPECT_EQ(entries[1].time, kTime + absl::Seconds(1));
  EXPECT_EQ(entries[1].receipt_id, "er_b");

  absl::StatusOr<Erasure> third = ledger->Append(Hash('c'), kTime, "er_c");
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ(third->seq, 3u);
}

TEST(ErasureLedgerTest, TornLastLineIsIgnored) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  const std::string good = absl::StrCat(Line(1, 'a', kTime, "er_a"), "\n");
  const std::string whole = Line(2, 'b', kTime, "er_b");
  // Cut at every length: a crash can stop the append anywhere.
  for (size_t cut = 1; cut <= whole.size(); ++cut) {
    SCOPED_TRACE(cut);
    WriteRaw(path, absl::StrCat(kHeader, good, whole.substr(0, cut)));
    std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
    ASSERT_NE(ledger, nullptr);
    // Even the whole line: without its newline it was never acknowledged.
    EXPECT_EQ(ledger->last_seq(), 1u);
    EXPECT_THAT(ledger->Since(0),
                ElementsAre(Field(&Erasure::receipt_id, "er_a")));
  }
}

TEST(ErasureLedgerTest, AppendAfterATornLineKeepsTheLedgerReadable) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  WriteRaw(path, absl::StrCat(kHeader, Line(1, 'a', kTime, "er_a"), "\n",
                              Line(2, 'b', kTime, "er_b").substr(0, 20)));
  {
    std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
    ASSERT_NE(ledger, nullptr);
    absl::StatusOr<Erasure> next = ledger->Append(Hash('c'), kTime, "er_c");
    ASSERT_THAT(next, IsOk());
    EXPECT_EQ(next->seq, 2u);
  }
  // The next start must still read it: the torn bytes may not glue onto the
  // new line.
  std::unique_ptr<ErasureLedger> reopened = OpenOrDie(path);
  ASSERT_NE(reopened, nullptr);
  EXPECT_THAT(reopened->Since(0),
              ElementsAre(Field(&Erasure::receipt_id, "er_a"),
                          Field(&Erasure::receipt_id, "er_c")));
  EXPECT_EQ(ReadOrEmpty(path),
            absl::StrCat(kHeader, Line(1, 'a', kTime, "er_a"), "\n",
                         Line(2, 'c', kTime, "er_c"), "\n"));
}

TEST(ErasureLedgerTest, DamagedLineBeforeTheEndIsRefused) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  const std::string line1 = Line(1, 'a', kTime, "er_a");
  const std::string line2 = Line(2, 'b', kTime, "er_b");
  const std::string line3 = Line(3, 'c', kTime, "er_c");
  struct Damage {
    const char* name;
    std::string line2;
  };
  for (const Damage& damage : std::vector<Damage>{
           {"garbage", "not an erasure"},
           {"missing receipt", Line(2, 'b', kTime, "").substr(0, 83)},
           {"extra column", absl::StrCat(line2, " more")},
           {"short hash",
            absl::StrCat("2 abcd ", absl::ToUnixMicros(kTime), " er_b")},
           {"not hex", absl::StrCat("2 ", std::string(64, 'z'), " 1 er_b")},
           {"bad time", absl::StrCat(line2.substr(0, 67), "soon er_b")},
           {"sequence gap", Line(5, 'b', kTime, "er_b")},
           {"sequence repeated", Line(1, 'b', kTime, "er_b")},
       }) {
    SCOPED_TRACE(damage.name);
    WriteRaw(path, absl::StrCat(kHeader, line1, "\n", damage.line2, "\n", line3,
                                "\n"));
    EXPECT_THAT(
        ErasureLedger::Open(path),
        StatusIs(absl::StatusCode::kDataLoss,
                 absl::StrCat("erasure ledger ", path, ": line 3 is damaged")));
  }
}

TEST(ErasureLedgerTest, DamagedLastLineWithItsNewlineIsRefused) {
  // Written whole (it has its newline), so it was acknowledged: refusing is
  // the only safe answer.
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  WriteRaw(path, absl::StrCat(kHeader, Line(1, 'a', kTime, "er_a"), "\n",
                              "2 damaged\n"));
  absl::StatusOr<std::unique_ptr<ErasureLedger>> ledger =
      ErasureLedger::Open(path);
  EXPECT_THAT(ledger, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(ledger.status().message(), HasSubstr("line 3"));
}

TEST(ErasureLedgerTest, FileWithoutTheHeaderIsRefused) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  for (const std::string& text :
       {std::string(""), std::string("sandyq-erasures-v2\n"),
        absl::StrCat(Line(1, 'a', kTime, "er_a"), "\n")}) {
    SCOPED_TRACE(text);
    WriteRaw(path, text);
    EXPECT_THAT(ErasureLedger::Open(path),
                StatusIs(absl::StatusCode::kDataLoss,
                         absl::StrCat("erasure ledger ", path,
                                      ": not a sandyq erasure ledger")));
  }
}

TEST(ErasureLedgerTest, LedgerOthersMayReadIsRefused) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  ASSERT_NE(OpenOrDie(path), nullptr);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_THAT(ErasureLedger::Open(path),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ErasureLedgerTest, MissingDirectoryFailsToOpen) {
  ScopedTempDir dir;
  EXPECT_FALSE(ErasureLedger::Open(dir.File("no/such/dir/erasures")).ok());
}

TEST(ErasureLedgerTest, ConcurrentAppendsGetConsecutiveNumbers) {
  ScopedTempDir dir;
  const std::string path = dir.File("erasures");
  std::unique_ptr<ErasureLedger> ledger = OpenOrDie(path);
  ASSERT_NE(ledger, nullptr);
  constexpr int kThreads = 4;
  constexpr int kEach = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ledger, t] {
      for (int i = 0; i < kEach; ++i) {
        EXPECT_THAT(ledger->Append(Hash(static_cast<char>('a' + t)), kTime,
                                   absl::StrCat("er_", t, "_", i)),
                    IsOk());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ledger->last_seq(), uint64_t{kThreads * kEach});

  std::unique_ptr<ErasureLedger> reopened = OpenOrDie(path);
  ASSERT_NE(reopened, nullptr);
  std::vector<Erasure> entries = reopened->Since(0);
  ASSERT_THAT(entries, SizeIs(kThreads * kEach));
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].seq, i + 1);
  }
}

}  // namespace
}  // namespace sandyq::vault
