#!/bin/sh
# fuzz/run.sh [SECONDS]: build the libFuzzer targets (clang, ASan, UBSan) in build-fuzz and run
# each for SECONDS (default 20) from its seed corpus under fuzz/corpus/. Fails when any target
# crashes, leaks (cml-sim target) or breaks one of its checks; the input that did it is left in
# build-fuzz/fuzz/artifacts-<name>/ (replay: build-fuzz/fuzz/fuzz_<name> <file>).
# FUZZ_BUILD names another build folder. Needs clang and libclang-rt-14-dev (scripts/install-deps.sh).
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-20}"
build="${FUZZ_BUILD:-build-fuzz}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2 ;;
esac
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz/run.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DRAYCAI_FUZZ=ON -DRAYCAI_WERROR=ON \
  -DRAYCAI_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build "$build" --target fuzz -j2
# two targets at a time on the two cores
ctest --test-dir "$build" -L fuzz -j2 --output-on-failure
