#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (fuzz/, clang with -fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time, from seeds made of the fake API's wire format and the
# fixtures (fuzz/make_seeds.py) plus the kept crash inputs (fuzz/regressions/<target>/).
# A crash, a leak, a broken property or memory over budget fails the run; its input is
# left in build-fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                       # CI: 30 s per target (about 3 minutes)
#   LAMEDUCK_FUZZ_SECONDS=3600 scripts/fuzz.sh        # long run
#   LAMEDUCK_FUZZ_TARGETS="fuzz_status" scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${LAMEDUCK_FUZZ_SECONDS:-30}
BUILD=${LAMEDUCK_FUZZ_BUILD:-build-fuzz}
CXX=${CXX:-clang++-14}
CC=${CC:-clang-14}
command -v "$CXX" >/dev/null || CXX=clang++
command -v "$CC" >/dev/null || CC=clang

CXX=$CXX CC=$CC cmake -S . -B "$BUILD" -G Ninja -DLAMEDUCK_FUZZ=ON -DLAMEDUCK_TESTS=OFF \
  -DLAMEDUCK_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
ninja -C "$BUILD" ${LAMEDUCK_FUZZ_TARGETS:-fuzz_slice_list fuzz_watch_stream fuzz_status fuzz_control fuzz_cli_values fuzz_text fuzz_dns fuzz_cli_args}

rm -rf "$BUILD/seeds"
/usr/bin/python3 fuzz/make_seeds.py "$BUILD/seeds"
# Inputs per target: list and watch bodies are large by nature, the rest are lines.
declare -A MAX_LEN=([fuzz_slice_list]=262144 [fuzz_watch_stream]=262144 [fuzz_status]=16384
                    [fuzz_control]=4096 [fuzz_cli_values]=256 [fuzz_text]=4096
                    [fuzz_dns]=4096 [fuzz_cli_args]=1024)
failed=()
for target in ${LAMEDUCK_FUZZ_TARGETS:-fuzz_slice_list fuzz_watch_stream fuzz_status fuzz_control fuzz_cli_values fuzz_text fuzz_dns fuzz_cli_args}; do
  corpus=$BUILD/corpus/$target
  artifacts=$BUILD/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  dirs=("$corpus" "$BUILD/seeds/$target")
  [[ -d fuzz/regressions/$target ]] && dirs+=("fuzz/regressions/$target")
  printf '==> %s for %ss\n' "$target" "$SECONDS_EACH"
  if ! "$BUILD/fuzz/$target" -max_total_time="$SECONDS_EACH" -max_len="${MAX_LEN[$target]}" \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "${dirs[@]}" >"$BUILD/$target.log" 2>&1; then
    failed+=("$target")
    grep -E "ERROR|FUZZ PROPERTY|SUMMARY|Test unit written" "$BUILD/$target.log" | head -5
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$BUILD/$target.log" | tr '\n' ' '
  echo
done
if ((${#failed[@]})); then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $BUILD/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: no problem found"
