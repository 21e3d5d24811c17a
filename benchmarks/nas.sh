#!/usr/bin/env bash
# docs/RESULTS.md, architecture search: supernet training throughput on 1 and 2 ranks
# (issue 6's scaling target), then — with `full` — the whole pipeline: supernet (8 epochs,
# uniform), search under 100K parameters with the allreduce cost on the 1K dragonfly,
# the winner retrained for 20 epochs, and the rank check.
#   benchmarks/nas.sh [OUT_DIR] [full]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/nas}"
mkdir -p "$out"
swift build -c release --product weft 2>&1 | tail -1 >&2
space=examples/nas-space.json
# Runs alternate 1 and 2 ranks, three rounds, so a slow spell of this shared machine hits
# both sides; the table quotes medians. `uniform/independent` is the same sampling with
# the ranks' paths drawn independently (no cost balancing).
configs="uniform:balanced:20000 uniform:independent:20000 sandwich:balanced:6000 fair:balanced:3000"
for round in 1 2 3; do
    for config in $configs; do
        IFS=: read -r sampling pairing images <<<"$config"
        for ranks in 1 2; do
            ./launch/weftrun -np "$ranks" -- weft train nas supernet --space "$space" --sampling "$sampling" \
                --rank-paths "$pairing" --epochs 1 --train-limit "$images" 2>/dev/null | tail -1 \
                >"$out/scaling-$sampling-$pairing-$ranks-$round.json"
        done
    done
done
python3 - "$out" $configs <<'PY'
import json, os, statistics, sys
d = sys.argv[1]
def rate(name): return json.load(open(os.path.join(d, name)))["samples_per_s"]
def wait(name): return json.load(open(os.path.join(d, name)))["allreduce_s"]
print("| sampling | rank paths | 1 rank samples/s | 2 ranks samples/s | speed-up (median of 3 pairs) | allreduce wait, rank 0 |")
print("|---|---|---:|---:|---:|---:|")
for config in sys.argv[2:]:
    s, p, _ = config.split(":")
    one = [rate(f"scaling-{s}-{p}-1-{r}.json") for r in (1, 2, 3)]
    two = [rate(f"scaling-{s}-{p}-2-{r}.json") for r in (1, 2, 3)]
    waits = [wait(f"scaling-{s}-{p}-2-{r}.json") for r in (1, 2, 3)]
    ratios = [b / a for a, b in zip(one, two)]
    print(f"| {s} | {p} | {statistics.median(one):.0f} | {statistics.median(two):.0f} | "
          f"{statistics.median(ratios):.2f}x ({', '.join(f'{x:.2f}' for x in ratios)}) | {statistics.median(waits):.2f} s |")
PY
[ "${2:-}" = full ] || exit 0
./launch/weftrun -np 2 -- weft train nas supernet --space "$space" --epochs 8 --lr 0.02 --checkpoint "$out" \
    >"$out/supernet.json"
./launch/weftrun -np 2 -- weft train nas search --space "$space" --supernet "$out/supernet.weft" --population 24 \
    --cycles 12 --max-params 100000 --topology topologies/dragonfly-1k.toml --ranks 256 -o "$out/search" >"$out/search.json"
./launch/weftrun -np 2 -- weft train dp --model "$out/search/best.json" --epochs 20 >"$out/retrain.json"
# Rank check: 20 architectures spread over the space's sizes, then 20 drawn uniformly; each
# trained stand-alone for 3 epochs on all 60,000 training images, twice (two seeds averaged:
# one 3-epoch seed of similar networks is too noisy a ground truth).
for sample in spread uniform; do
    ./launch/weftrun -np 2 -- weft train nas rank-check --space "$space" --supernet "$out/supernet.weft" \
        --architectures 20 --sample "$sample" --seeds 2 --epochs 3 --latency-table "$out/search/latency.json" \
        >"$out/rank-check-$sample.json"
done
