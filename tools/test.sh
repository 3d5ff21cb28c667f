#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the normal, sanitizer (ASan+UBSan) and fuzz
# configurations, then runs ctest in each. The last line printed is the main ctest summary.
# The Jepsen-style fault runs (label fault_run) run in the release build only: they drive real
# processes for minutes, and the cluster tests already exercise the same code under sanitizers.
# clang-tidy (.clang-tidy, warnings as errors) runs on the release build's compile commands.
# Env: JOBS (default: nproc), FUZZ_SECONDS (default 30), SKIP_ASAN=1, SKIP_FUZZ=1, SKIP_TIDY=1.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
bash tools/install-deps.sh

configure() {  # configure DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
}

if [ -z "${SKIP_ASAN:-}" ]; then
  echo "== sanitizer build (ASan+UBSan)"
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DRAFTD_SANITIZE=ON -DCMAKE_CXX_FLAGS=-O1
  cmake --build build-asan -j "$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" -LE 'no_sanitize|fault_run'
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
  echo "== fuzz targets (clang + libFuzzer), ${FUZZ_SECONDS:-30}s each"
  configure build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_COMPILER=clang -DRAFTD_FUZZ=ON
  cmake --build build-fuzz -j "$JOBS" --target fuzz_targets
  FUZZ_SECONDS=${FUZZ_SECONDS:-30} ctest --test-dir build-fuzz --output-on-failure -R '^fuzz_'
fi

echo "== release build"
configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$JOBS"
if [ -z "${SKIP_TIDY:-}" ]; then
  echo "== clang-tidy"
  JOBS=$JOBS bash tools/tidy.sh build
fi
ctest --test-dir build --output-on-failure -j "$JOBS"
