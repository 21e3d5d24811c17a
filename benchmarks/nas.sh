#!/usr/bin/env bash
# docs/RESULTS.md, architecture search: supernet training throughput on 1 and 2 ranks
# (issue 6's scaling target), then — with `full` — the whole pipeline: supernet (3 epochs,
# uniform), search under 100K parameters with the allreduce cost on the 1K dragonfly,
# the winner retrained for 10 epochs, and the rank check.
#   benchmarks/nas.sh [OUT_DIR] [full]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/nas}"
mkdir -p "$out"
swift build -c release --product weft 2>&1 | tail -1 >&2
space=examples/nas-space.json
for sampling in uniform sandwich fair; do
    for ranks in 1 2; do
        ./launch/weftrun -np "$ranks" -- weft train nas supernet --space "$space" --sampling "$sampling" \
            --epochs 1 --train-limit 8000 2>/dev/null | tail -1 >"$out/scaling-$sampling-$ranks.json"
    done
done
python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
print("| sampling | 1 rank samples/s | 2 ranks samples/s | speed-up |")
print("|---|---:|---:|---:|")
for s in ["uniform", "sandwich", "fair"]:
    one = json.load(open(os.path.join(d, f"scaling-{s}-1.json")))["samples_per_s"]
    two = json.load(open(os.path.join(d, f"scaling-{s}-2.json")))["samples_per_s"]
    print(f"| {s} | {one:.0f} | {two:.0f} | {two / one:.2f}x |")
PY
[ "${2:-}" = full ] || exit 0
./launch/weftrun -np 2 -- weft train nas supernet --space "$space" --epochs 3 --lr 0.02 --checkpoint "$out" \
    >"$out/supernet.json"
./launch/weftrun -np 2 -- weft train nas search --space "$space" --supernet "$out/supernet.weft" --population 24 \
    --cycles 12 --max-params 100000 --topology topologies/dragonfly-1k.toml --ranks 256 -o "$out/search" >"$out/search.json"
./launch/weftrun -np 2 -- weft train dp --model "$out/search/best.json" --epochs 10 >"$out/retrain.json"
./launch/weftrun -np 2 -- weft train nas rank-check --space "$space" --supernet "$out/supernet.weft" --architectures 10 \
    --epochs 2 --train-limit 10000 --latency-table "$out/search/latency.json" >"$out/rank-check.json"
