#!/usr/bin/env bash
# Installs everything raftd needs to build, test and benchmark, from Debian bookworm packages only.
# Idempotent: skips apt entirely when every package is already present.
set -euo pipefail
PKGS=(
  cmake ninja-build g++ pkg-config git ca-certificates
  libboost-dev libboost-program-options-dev libfmt-dev librocksdb-dev catch2
  libssl-dev                               # libcrypto: peer authentication and encryption
  redis-server redis-tools                 # redis-cli / redis-benchmark for tests, redis-server for benchmarks
  clang clang-format clang-tidy libclang-rt-14-dev  # libFuzzer target, format and tidy checks
  iproute2 iptables procps python3         # fault tests: packet-level partitions, process control
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
