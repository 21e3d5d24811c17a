#!/usr/bin/env bash
# Reproduces the training table of docs/BENCHMARKS.md: reference MLP and CNN on
# Fashion-MNIST (10 epochs, SGD 0.05, momentum 0.9, wd 5e-4, cosine, batch 128, one
# thread per rank), their single-rank throughput, and 2-rank data-parallel scaling.
#   benchmarks/training.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results}"
mkdir -p "$out"
swift build -c release --product weft 2>&1 | tail -1 >&2
run() { # name ranks args…
    local name="$1" ranks="$2"; shift 2
    ./launch/weftrun -np "$ranks" -- weft train dp "$@" 2>"$out/$name.err" | tail -1 >"$out/$name.json"
}
run mlp-1 1 --model mlp --epochs 10
run cnn-1 1 --model cnn --epochs 10
run mlp-1-short 1 --model mlp --epochs 3
run mlp-2-short 2 --model mlp --epochs 3
run cnn-2-short 2 --model cnn --epochs 1
run cnn-1-short 1 --model cnn --epochs 1
python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
r = {n: json.load(open(os.path.join(d, n + ".json"))) for n in
     ["mlp-1", "cnn-1", "mlp-1-short", "mlp-2-short", "cnn-1-short", "cnn-2-short"]}
print("| run | ranks | epochs | test accuracy | test loss | samples/s | comm time (s) | wall (s) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for n, x in r.items():
    print(f"| {n} | {x['ranks']} | {x['epochs']} | {x['test_accuracy']*100:.2f}% | {x['test_loss']:.4f} | "
          f"{x['samples_per_s']:.0f} | {x['comm_time_s']:.2f} | {x['wall_s']:.1f} |")
print()
print(f"2-rank scaling, MLP: {r['mlp-2-short']['samples_per_s'] / r['mlp-1-short']['samples_per_s']:.2f}x; "
      f"CNN: {r['cnn-2-short']['samples_per_s'] / r['cnn-1-short']['samples_per_s']:.2f}x")
PY
