#!/usr/bin/env bash
# CWeft's reduction kernels alone (benchmarks/reduce_kernels.c): f32 sum in place and apart,
# 256 KiB to 16 MiB, GB/s of the vector reduced (median of 7 rounds). Compiled with the Swift
# toolchain's clang and the flags Package.swift gives CWeft (-O3 -fno-strict-aliasing).
#
#   benchmarks/reduce-kernels.sh [CC=clang]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cc="${1:-clang}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$cc" -O3 -fno-strict-aliasing -ISources/CWeft/include benchmarks/reduce_kernels.c Sources/CWeft/reduce.c -o "$out/kernels"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $("$cc" --version | head -1); commit $(git rev-parse --short HEAD)"
"$out/kernels"
