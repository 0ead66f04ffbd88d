#include "server/vault/erasure_ledger.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/crypto/hash.h"
#include "server/platform/files.h"

namespace sandyq::vault {
namespace {

constexpr absl::string_view kHeader = "sandyq-erasures-v1";

absl::Status AppendDurably(const std::string& path, absl::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("erasure ledger ", path, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("erasure ledger ", path, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  int rc = ::fdatasync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("erasure ledger ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ErasureLedger>> ErasureLedger::Open(
    const std::string& path) {
  std::unique_ptr<ErasureLedger> ledger(new ErasureLedger(path));
  absl::StatusOr<std::string> text = platform::ReadFile(path);
  if (absl::IsNotFound(text.status())) {
    if (absl::Status s = platform::WriteFileAtomic(
            path, absl::StrCat(kHeader, "\n"), 0600);
        !s.ok()) {
      return s;
    }
    return ledger;
  }
  if (!text.ok()) return text.status();
  if (absl::Status s = platform::CheckOwnerOnly(path); !s.ok()) return s;
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  if (lines.empty() || lines[0] != kHeader) {
    return absl::DataLossError(
        absl::StrCat("erasure ledger ", path, ": not a sandyq erasure ledger"));
  }
  absl::MutexLock lock(&ledger->mu_);
  size_t good_bytes = kHeader.size() + 1;  // through the last whole line
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      if (i + 1 < lines.size()) ++good_bytes;
      continue;
    }
    if (i + 1 == lines.size()) {
      // No newline after it: a torn append, never acknowledged. Cut it off,
      // or the next Append would continue its line and make the ledger
      // unreadable at the next start.
      if (absl::Status s = platform::WriteFileAtomic(
              path, text->substr(0, good_bytes), 0600);
          !s.ok()) {
        return s;
      }
      break;
    }
    good_bytes += lines[i].size() + 1;
    std::vector<absl::string_view> cols = absl::StrSplit(lines[i], ' ');
    Erasure e;
    int64_t micros = 0;
    absl::StatusOr<std::string> hash =
        cols.size() == 4 ? crypto::FromHex(cols[1])
                         : absl::StatusOr<std::string>(absl::DataLossError(""));
    const bool ok = cols.size() == 4 && absl::SimpleAtoi(cols[0], &e.seq) &&
                    hash.ok() && hash->size() == 32 &&
                    absl::SimpleAtoi(cols[2], &micros) &&
                    e.seq == ledger->entries_.size() + 1;
    if (!ok) {
      return absl::DataLossError(absl::StrCat("erasure ledger ", path,
                                              ": line ", i + 1, " is damaged"));
    }
    e.subject_hash = std::move(*hash);
    e.time = absl::FromUnixMicros(micros);
    e.receipt_id = std::string(cols[3]);
    ledger->entries_.push_back(std::move(e));
  }
  return ledger;
}

absl::StatusOr<Erasure> ErasureLedger::Append(std::string subject_hash,
                                              absl::Time time,
                                              std::string receipt_id) {
  absl::MutexLock lock(&mu_);
  Erasure e{.seq = entries_.size() + 1,
            .subject_hash = std::move(subject_hash),
            .time = time,
            .receipt_id = std::move(receipt_id)};
  if (absl::Status s = AppendDurably(
          path_, absl::StrCat(e.seq, " ", crypto::ToHex(e.subject_hash), " ",
                              absl::ToUnixMicros(e.time), " ", e.receipt_id,
                              "\n"));
      !s.ok()) {
    return s;
  }
  entries_.push_back(e);
  return e;
}

std::vector<Erasure> ErasureLedger::Since(uint64_t after) const {
  absl::MutexLock lock(&mu_);
  std::vector<Erasure> out;
  for (const Erasure& e : entries_) {
    if (e.seq > after) out.push_back(e);
  }
  return out;
}

std::vector<Erasure> ErasureLedger::ForSubject(
    absl::string_view subject_hash) const {
  absl::MutexLock lock(&mu_);
  std::vector<Erasure> out;
  for (const Erasure& e : entries_) {
    if (e.subject_hash == subject_hash) out.push_back(e);
  }
  return out;
}

uint64_t ErasureLedger::last_seq() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace sandyq::vault
