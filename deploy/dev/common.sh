# Shared by deploy/dev/run and deploy/dev/test: install what is missing from
# Debian's archive, then configure and build. Source it; do not run it.
set -euo pipefail

SANDYQ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANDYQ_BUILD="${SANDYQ_BUILD:-$SANDYQ_ROOT/build}"

# Everything sandyq builds and tests with, all from Debian 12 (bookworm).
SANDYQ_PACKAGES=(
  g++ cmake ninja-build pkg-config git openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libssl-dev librocksdb-dev rocksdb-tools
  libphonenumber-dev libutf8proc-dev
  libjemalloc-dev
  libgtest-dev libgmock-dev
  softhsm2 libp11-kit-dev
  libcivetweb-dev
  # Tests only: systemd-analyze checks deploy/systemd/sandyqd.service (no
  # running systemd needed); setpriv and unshare run sandyqd as another user
  # in the hardening tests.
  systemd util-linux
)

# Only the test suites need these (deploy/dev/test installs them): a real
# Prometheus server scrapes sandyqd in the metrics end-to-end test.
SANDYQ_TEST_PACKAGES=(
  prometheus
)

# Only for deploy/dev/test: the libFuzzer targets (tests/fuzz/run) build
# with clang 14; libclang-rt-14-dev holds the libFuzzer, ASan and UBSan
# runtimes, llvm-14 the symbolizer for readable stack traces.
SANDYQ_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev llvm-14)

sandyq_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

sandyq_install_packages() {
  local missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  echo "sandyq: installing ${missing[*]}" >&2
  sandyq_as_root apt-get update -qq
  sandyq_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# sandyq_install_commands cmd:package ...: installs `package` unless `cmd` is
# already on PATH (from any source, e.g. a newer Node.js).
sandyq_install_commands() {
  local packages=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || packages+=("${pair#*:}")
  done
  if [ ${#packages[@]} -gt 0 ]; then sandyq_install_packages "${packages[@]}"; fi
}

# sandyq_build [cmake --build args...]
sandyq_build() {
  sandyq_install_packages "${SANDYQ_PACKAGES[@]}"
  local jobs
  jobs="$(nproc 2>/dev/null || echo 2)"
  if [ ! -f "$SANDYQ_BUILD/build.ninja" ]; then
    cmake -S "$SANDYQ_ROOT" -B "$SANDYQ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$SANDYQ_BUILD" -j "$jobs" "$@"
}
