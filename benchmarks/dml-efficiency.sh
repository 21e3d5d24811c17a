#!/usr/bin/env bash
# Issue 5's efficiency target: K mutual-learning peers on K ranks (one per core) against
# one peer trained alone with the same settings; wall time of each, three runs, medians.
#   benchmarks/dml-efficiency.sh [MODEL] [EPOCHS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model="${1:-mlp}"
epochs="${2:-3}"
swift build -c release --product weft 2>&1 | tail -1 >&2
for run in 1 2 3; do
    alone=$(./launch/weftrun -np 1 -- weft train dp --model "$model" --epochs "$epochs" 2>/dev/null | tail -1)
    peers=$(./launch/weftrun -np 2 -- weft train dml --peers 2 --model "$model" --epochs "$epochs" 2>/dev/null | tail -1)
    echo "$alone"
    echo "$peers"
done | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
alone = [r["wall_s"] for r in rows if r["method"] == "dp"]
peers = [r["wall_s"] for r in rows if r["method"] == "dml"]
a, p = statistics.median(alone), statistics.median(peers)
print("| run | wall s (3 runs) | median |")
print("|---|---|---:|")
print("| one peer alone (dp, 1 rank) | " + ", ".join("%.2f" % x for x in alone) + " | %.2f |" % a)
print("| 2 DML peers on 2 ranks | " + ", ".join("%.2f" % x for x in peers) + " | %.2f |" % p)
print()
print("ratio: %.3f (target <= 1.15)" % (p / a))
'
