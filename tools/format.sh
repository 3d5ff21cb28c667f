#!/usr/bin/env bash
# Formats every C++ file of the project in place with the committed .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
find resp raft storage server tools tests -name '*.h' -o -name '*.cc' | xargs clang-format -i
