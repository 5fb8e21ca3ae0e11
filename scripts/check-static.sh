#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Check that BINARY is a fully static executable of at most 2.0 MB (2,000,000 bytes, the
# budget of issue 21 for both architectures), and (with --arch) that it is built for that
# architecture. It prints the headroom left, so a change that eats it shows in CI's log.
#   scripts/check-static.sh build-static/lameduck
#   scripts/check-static.sh --arch arm64 build-static-arm64/lameduck
set -euo pipefail

MAX_BYTES=${LAMEDUCK_MAX_BYTES:-2000000}

arch=
if [[ ${1:-} == --arch ]]; then
  arch=${2:-}
  shift 2 || true
fi
if [[ $# -ne 1 ]]; then
  echo "usage: $0 [--arch amd64|arm64] BINARY" >&2
  exit 2
fi
case $arch in
  '') want= ;;
  amd64 | x86_64) want="x86-64" ;;
  arm64 | aarch64) want="ARM aarch64" ;;
  *) echo "check-static: unknown --arch $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
bin=$1
fail=0
problem() { printf 'check-static: FAIL: %s\n' "$*" >&2; fail=1; }

if [[ ! -f $bin ]]; then
  echo "check-static: FAIL: $bin does not exist (run scripts/build-static.sh)" >&2
  exit 1
fi
[[ -x $bin ]] || problem "$bin is not executable"

command -v file >/dev/null 2>&1 || { echo "check-static: FAIL: 'file' is not installed (apt-get install file)" >&2; exit 1; }
info=$(file -b "$bin")
echo "file: $info"
case $info in
  *ELF*) ;;
  *) problem "$bin is not an ELF file" ;;
esac
if [[ -n $want && $info != *"LSB executable, $want,"* && $info != *"LSB pie executable, $want,"* ]]; then
  problem "file(1) does not say it is a $want executable"
fi
# file(1) says "statically linked" for ET_EXEC static binaries and "static-pie linked" for
# static PIE; anything mentioning an interpreter or dynamic linking is wrong.
if [[ $info == *"dynamically linked"* || $info == *"interpreter"* ]]; then
  problem "file(1) says it is dynamically linked"
elif [[ $info != *"statically linked"* && $info != *"static-pie linked"* ]]; then
  problem "file(1) does not say 'statically linked'"
fi

if command -v ldd >/dev/null 2>&1; then
  ldd_out=$(LC_ALL=C ldd "$bin" 2>&1 || true)
  echo "ldd: $ldd_out"
  case $ldd_out in
    *"not a dynamic executable"* | *"statically linked"*) ;;
    *) problem "ldd does not say 'not a dynamic executable'" ;;
  esac
else
  problem "ldd is not available"
fi

# No PT_INTERP / DT_NEEDED either (independent of file/ldd wording).
if command -v readelf >/dev/null 2>&1; then
  if readelf -lW "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    problem "has a program interpreter (PT_INTERP)"
  fi
  if readelf -dW "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
    problem "needs shared libraries: $(readelf -dW "$bin" | grep '(NEEDED)' | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')"
  fi
fi

bytes=$(stat -c %s "$bin")
echo "size: $bytes bytes (limit $MAX_BYTES)"
if (( bytes > MAX_BYTES )); then
  problem "$bin is $bytes bytes, more than the limit of $MAX_BYTES (2.0 MB); is it stripped?"
else
  echo "check-static: $(( MAX_BYTES - bytes )) bytes left under the limit"
fi

if (( fail )); then
  echo "check-static: $bin FAILED" >&2
  exit 1
fi
echo "check-static: OK: $bin is static and $bytes bytes"
