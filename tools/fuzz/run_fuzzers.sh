#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz/ and runs
# each for a bounded time from freshly generated seeds and the kept corpus
# tests/fuzz-corpus/<target>/ (read only: new inputs go to build-fuzz/corpus/).
# Prints each target's execution count; a finding fails the run and leaves
# its input in build-fuzz/ (crash-*, leak-*, timeout-*).
# The bridge's targets run where the bridge is built (libnats found), the
# Python module's where it is (pybind11 and the Python headers found).
#   tools/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET]   (default 15)
#   tools/fuzz/run_fuzzers.sh --configure   only configures build-fuzz: .ci/run
#     builds the whole suite there and runs it, ASan+UBSan, before fuzzing
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCONDUIT_BUILD_FUZZ=ON -DCONDUIT_SANITIZE=address \
      -DCONDUIT_BUILD_TESTS=ON -DCONDUIT_BUILD_BENCH=OFF -DCONDUIT_BUILD_TOOLS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [[ ${1:-} == --configure ]]; then exit 0; fi
seconds=${1:-15}
targets=(record envelope segment_scan recovery inspect cli counters api capi)
if grep -q '^CONDUIT_BRIDGE:BOOL=ON' build-fuzz/CMakeCache.txt; then
  targets+=(bridge_headers ack_subject bridge_config)
fi
targets+=(ipc_wire)
if cmake --build build-fuzz --target help | grep '\bfuzz_python\b' >/dev/null; then  # not -q: pipefail
  targets+=(python)
fi
cmake --build build-fuzz -j"$(nproc)" --target fuzz_make_seeds "${targets[@]/#/fuzz_}"
rm -rf build-fuzz/seeds
build-fuzz/fuzz_make_seeds build-fuzz/seeds >/dev/null
mkdir -p build-fuzz/seeds/ipc_wire  # its seeds are in tests/fuzz-corpus/ipc_wire/

# api: no leak check after each input. The engine's threads leave libFuzzer's
# malloc and free counts apart, so it would scan the heap after nearly every
# input (half its time); LeakSanitizer still checks once at exit. Inputs up
# to its 64 calls (5 bytes each) from the start. capi: the same. python: the
# interpreter keeps caches that libFuzzer would take for a leak per input.
# counters: room for a header and a few rows of raw file.
declare -A options=([api]="-detect_leaks=0 -max_len=320 -len_control=0"
                    [capi]="-detect_leaks=0 -max_len=320 -len_control=0"
                    [python]="-detect_leaks=0 -max_len=512"
                    [counters]="-max_len=8192")
# ipc_wire: the engine's threads too, and a connection's thread each input.
options[ipc_wire]="-detect_leaks=0"

status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/fuzz-$t.log"
  # shellcheck disable=SC2086  # options are words
  if build-fuzz/fuzz_"$t" ${options[$t]:-} -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$PWD/build-fuzz/" \
       "build-fuzz/corpus/$t" "build-fuzz/seeds/$t" "tests/fuzz-corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t: $runs executions in ${seconds}s, no failure"
  else
    echo "fuzz: $t FAILED; the end of its log ($log):" >&2
    tail -n 40 "$log" >&2
    status=1
  fi
done
exit "$status"
