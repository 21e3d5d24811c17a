#!/usr/bin/env bash
# Emulated fabric vs simulator: allreduce on the small dragonfly, 4 ranks on this machine,
# every step held for its simulated time (× --slowdown, divided back in the report).
#   benchmarks/emulation.sh [TOPOLOGY] [RANKS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
topology="${1:-topologies/dragonfly-small.toml}"
ranks="${2:-4}"
weft=.build/release/weft
./launch/weftrun -np "$ranks" -- "$weft" bench allreduce --topology "$topology" --emulate \
    --algorithm ring,hierarchical,topo-ring --min-bytes 1M --max-bytes 16M --iters 5 --warmup 1 --format csv \
    | grep -E '^[0-9]+,' | while IFS=, read -r bytes count algorithm time rest; do
        sim=$("$weft" topo simulate "$topology" --collective allreduce --algorithm "$algorithm" --bytes "$bytes" \
            --ranks "$ranks" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["time_us"])')
        echo "$bytes $algorithm $time $sim"
    done | python3 -c '
import sys
print("| bytes | algorithm | emulated µs (median) | simulated µs | emulated / simulated |")
print("|---:|---|---:|---:|---:|")
for line in sys.stdin:
    b, a, e, s = line.split()
    print(f"| {int(b):,} | {a} | {float(e):.1f} | {float(s):.1f} | {float(e) / float(s):.3f} |")
'
