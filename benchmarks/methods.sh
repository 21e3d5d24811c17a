#!/usr/bin/env bash
# docs/RESULTS.md: independent peers vs deep mutual learning (K = 2, 4) vs co-distillation
# (G = 2, 4) vs data-parallel, reference MLP and CNN, full training set and a 6,000-image
# subset, seeds 1-3. One JSON line per run in RESULTS_DIR, then a table.
#   benchmarks/methods.sh [RESULTS_DIR] [SEEDS] [MODELS]   (defaults: benchmarks/results/methods, "1 2 3", "mlp cnn")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/methods}"
seeds="${2:-1 2 3}"
models="${3:-mlp cnn}"
mkdir -p "$out"
swift build -c release --product weft 2>&1 | tail -1 >&2
run() { # name ranks args…
    local name="$1" ranks="$2"; shift 2
    [ -s "$out/$name.json" ] && return 0
    ./launch/weftrun -np "$ranks" -- weft train "$@" 2>"$out/$name.err" | tail -1 >"$out/$name.json.tmp"
    mv "$out/$name.json.tmp" "$out/$name.json"
}
for model in $models; do
    # The CNN gets 3 epochs on the full set (10 on the subset) to fit a 2-core budget.
    full_epochs=10; [ "$model" = cnn ] && full_epochs=3
    for data in full subset; do
        if [ "$data" = full ]; then limit=(); epochs=$full_epochs; every=50; burn=100
        else limit=(--train-limit 6000); epochs=10; every=10; burn=50; fi
        for seed in $seeds; do
            common=(--model "$model" --epochs "$epochs" --seed "$seed" "${limit[@]}")
            run "$model-$data-independent-s$seed" 2 dml --peers 2 --kl-weight 0 "${common[@]}"
            run "$model-$data-dml2-s$seed" 2 dml --peers 2 "${common[@]}"
            run "$model-$data-dml4-s$seed" 4 dml --peers 4 "${common[@]}"
            run "$model-$data-codistill2-s$seed" 2 codistill --groups 2 --exchange-every "$every" --burn-in "$burn" "${common[@]}"
            run "$model-$data-codistill4-s$seed" 4 codistill --groups 4 --exchange-every "$every" --burn-in "$burn" "${common[@]}"
            run "$model-$data-dp2-s$seed" 2 dp "${common[@]}"
        done
    done
done
python3 benchmarks/methods-table.py "$out"
