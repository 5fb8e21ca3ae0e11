#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# lameduck's whole test suite, from a fresh Debian 12 (bookworm) machine, as root:
#
#   sudo scripts/test.sh
#
# 1. installs the build and test dependencies with apt-get (skipped when present);
# 2. checks formatting (clang-format) and, after the build, clang-tidy;
# 3. builds with -Wall -Wextra -Werror and runs every test with ctest
#    (doctest unit tests + the pytest integration suite: real PID 1 in a new PID
#    namespace, the fake Kubernetes API server, kubectl against it, the demo's short run);
# 4. builds with AddressSanitizer + UBSan and runs the tests again;
# 5. builds the static binary (scripts/build-static.sh), checks it (static, no
#    dependency, <= 2,000,000 bytes) and runs the integration suite against it, including a run in
#    an empty root (chroot);
# 6. cross-builds the arm64 static binary (scripts/build-static.sh --arch arm64), checks it
#    and runs it under qemu-user (qemu-aarch64-static, called explicitly: no binfmt
#    needed), with the PID-1 integration tests under qemu;
# 7. builds the one-node Kubernetes cluster from the upstream sources (scripts/cluster.sh:
#    cached by version, a no-op once built), brings it up, runs the end-to-end tests on it
#    (tests/e2e) and takes it down, also on failure.
#
# Environment: LAMEDUCK_SKIP_ASAN=1, LAMEDUCK_SKIP_STATIC=1, LAMEDUCK_SKIP_ARM64=1 to leave
# out steps 4, 5 or 6; LAMEDUCK_SKIP_ARM64_TESTS=1 (none) or LAMEDUCK_ARM64_FULL=1 (all)
# for the integration tests under qemu in step 6; LAMEDUCK_SKIP_FUZZ=1 leaves out the
# fuzzing (scripts/fuzz.sh, LAMEDUCK_FUZZ_SECONDS); LAMEDUCK_SKIP_CLUSTER=1 leaves out step 7.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PACKAGES=(
  cmake ninja-build g++ pkg-config clang-format clang-tidy
  libspdlog-dev libfmt-dev libcurl4-openssl-dev nlohmann-json3-dev doctest-dev
  python3 python3-pytest python3-yaml openssl util-linux procps iproute2 ca-certificates
  haproxy gnuplot-nox qemu-user-static strace
  clang libclang-rt-14-dev
)

step() { printf '\n==> %s\n' "$*"; }

step "installing dependencies"
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v kubectl >/dev/null; then
  echo "note: kubectl not found; the fake API's kubectl checks will be skipped"
fi

step "checking formatting"
files=$(git ls-files 'src/**.cpp' 'src/**.h' 'tests/unit/**.cpp' 'tests/unit/**.h' 2>/dev/null || find src tests/unit -name '*.cpp' -o -name '*.h')
clang-format --dry-run --Werror $files

PY=/usr/bin/python3
cmake_build() {  # dir, extra cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DPython3_EXECUTABLE=$PY -DLAMEDUCK_WERROR=ON "$@" >/dev/null
  ninja -C "$dir"
}

step "build (-Wall -Wextra -Werror) and test"
cmake_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo

step "clang-tidy (.clang-tidy)"
git ls-files 'src/**.cpp' | xargs -P 2 -n 1 clang-tidy -p build --quiet 2>/dev/null
ctest --test-dir build --output-on-failure

if [[ "${LAMEDUCK_SKIP_ASAN:-0}" != 1 ]]; then
  step "build with AddressSanitizer + UBSan and test"
  cmake_build build-asan -DCMAKE_BUILD_TYPE=Debug -DLAMEDUCK_SANITIZE=ON
  LDTEST_SLACK=3 ctest --test-dir build-asan --output-on-failure
fi

if [[ "${LAMEDUCK_SKIP_FUZZ:-0}" != 1 ]]; then
  # About 3 minutes (30 s per target); LAMEDUCK_FUZZ_SECONDS=N for a long run.
  step "fuzzing (libFuzzer + ASan + UBSan, fuzz/)"
  bash scripts/fuzz.sh
fi

if [[ "${LAMEDUCK_SKIP_STATIC:-0}" != 1 ]]; then
  step "static binary: build, check, test"
  bash scripts/build-static.sh
  bash scripts/check-static.sh build-static/lameduck
  LAMEDUCK_BIN=$ROOT/build-static/lameduck SIGECHO_BIN=$ROOT/build/tests/sigecho \
    SIGECHO_STATIC_BIN=$ROOT/build/tests/sigecho_static \
    $PY -m pytest -q -p no:cacheprovider tests/integration -m "not demo"
fi

if [[ "${LAMEDUCK_SKIP_ARM64:-0}" != 1 ]]; then
  step "arm64 static binary: cross-build, check, run under qemu-user"
  bash scripts/build-static.sh --arch arm64 --test-helpers
  bash scripts/check-static.sh --arch arm64 build-static-arm64/lameduck
  qemu-aarch64-static build-static-arm64/lameduck version
  # The PID-1 suite under qemu-user: signals, exit codes, reaping, delay, the
  # EndpointSlice wait and prestop against the fake API, the empty root, install
  # (LAMEDUCK_ARM64_FULL=1: every test file; LAMEDUCK_SKIP_ARM64_TESTS=1: none). What
  # qemu-user cannot emulate is skipped with the reason (tests/support/qemu_limits.py).
  # The child is the build machine's sigecho; the empty root runs the arm64 one.
  if [[ "${LAMEDUCK_SKIP_ARM64_TESTS:-0}" != 1 ]]; then
    arm64_tests=(test_signals.py test_exit_codes.py test_pid1.py test_orphans.py test_delay.py
                 test_endpoints.py test_prestop.py test_empty_root.py test_install.py)
    if [[ "${LAMEDUCK_ARM64_FULL:-0}" == 1 ]]; then arm64_tests=(.); fi
    (cd tests/integration &&
      LDTEST_EMULATOR=qemu-aarch64-static LAMEDUCK_BIN=$ROOT/build-static-arm64/lameduck \
      SIGECHO_BIN=$ROOT/build/tests/sigecho \
      SIGECHO_STATIC_BIN=$ROOT/build-static-arm64/sigecho_static \
      $PY -m pytest -q -p no:cacheprovider -m "not demo" -rs "${arm64_tests[@]}")
  fi
fi

if [[ "${LAMEDUCK_SKIP_CLUSTER:-0}" != 1 ]]; then
  # The upstream binaries (cluster/*/go.mod) are built into a cache outside the tree, keyed
  # by version: a no-op once built (a cold build takes long: see the README's development
  # section). `down` runs whatever happens (the trap), so nothing stays up or mounted.
  step "one-node Kubernetes cluster: build (cached) and up (scripts/cluster.sh)"
  trap 'bash "$ROOT/scripts/cluster.sh" down || true' EXIT
  bash scripts/cluster.sh up >/dev/null
  step "end-to-end tests on the one-node cluster (tests/e2e)"
  # The images (scripts/e2e-images.sh, cached) take the static binary built above, or
  # build it; the tests need a running cluster (scripts/cluster.sh up) and fail without.
  if [[ -x $ROOT/build-static/lameduck ]]; then
    export LAMEDUCK_E2E_LAMEDUCK_BIN=$ROOT/build-static/lameduck
  fi
  LAMEDUCK_E2E_REQUIRE_CLUSTER=1 $PY -m pytest -q -p no:cacheprovider -rs tests/e2e
  step "one-node Kubernetes cluster: down"
  bash scripts/cluster.sh down
  trap - EXIT
fi

step "all tests passed"
