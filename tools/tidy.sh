#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy, warnings as errors) over raftd's own sources:
# raft/, resp/, storage/, server/, tools/ (tests are left out: Catch2's macros trip
# bugprone checks that say nothing about our code). Needs a configured build directory with
# compile_commands.json (CMake writes one: CMAKE_EXPORT_COMPILE_COMMANDS is on).
#   tools/tidy.sh [BUILD_DIR]        default build; JOBS (default nproc)
# Exit status: 0 when clean; the findings are printed otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
JOBS=${JOBS:-$(nproc)}
[ -f "$BUILD/compile_commands.json" ] || { echo "tidy: no $BUILD/compile_commands.json" >&2; exit 2; }
mapfile -t files < <(git ls-files 'raft/*.cc' 'resp/*.cc' 'storage/*.cc' 'server/*.cc' 'tools/*.cc')
started=$(date +%s)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if run-clang-tidy -quiet -p "$BUILD" -j "$JOBS" "${files[@]/#/$PWD/}" >"$out" 2>&1; then
  echo "tidy: ${#files[@]} files clean in $(( $(date +%s) - started )) s"
else
  # A finding in a header shows up once per file including it: each is printed once.
  sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '(error|warning): ' | sed "s|^$PWD/||" | sort -u
  echo "tidy: findings above (${#files[@]} files, $(( $(date +%s) - started )) s)" >&2
  exit 1
fi
