#!/usr/bin/env bash
# scripts/deps.sh [demo|test|bench] - installs the Debian 12 packages that gort
# needs for that target, only those missing. Idempotent: when everything is
# installed it runs no apt-get at all. Uses sudo when not root.
set -euo pipefail

target=${1:-demo}

# The release preset builds the unit tests too (cmocka), so `make demo` needs it.
# bench: Go for the Go twins of every benchmark, libgc (Boehm-GC) for the twins
# of the collector benchmarks (bench/boehm/, built when CMake finds bdw-gc).
demo=(cmake make gcc pkg-config libuv1-dev libc6-dev libcmocka-dev)
case "$target" in
demo)  pkgs=("${demo[@]}") ;;
test)  pkgs=("${demo[@]}" clang libclang-rt-14-dev llvm valgrind) ;;
bench) pkgs=("${demo[@]}" golang-go libgc-dev) ;;
*)
    echo "usage: $0 [demo|test|bench]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps ($target): all installed"
    exit 0
fi

echo "deps ($target): installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q "${missing[@]}"
