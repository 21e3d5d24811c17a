#!/usr/bin/env bash
# docs/RESULTS.md, "which supernet tells the truth": supernets trained with different
# sampling rules and lengths, each rank-checked against the same stand-alone accuracies
# (earlier rank-check outputs, passed with --standalone, so nothing is trained stand-alone
# again). Prints Kendall's tau with its 90 % bootstrap interval per supernet and sample.
#   benchmarks/nas-rank.sh OUT_DIR REFERENCE.json… [-- SAMPLING:EPOCHS…]
# Each REFERENCE is a rank-check output; its "sample" field and size are reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$1"; shift
references=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do references+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
configs="${*:-uniform:8 uniform:16 sandwich:4 fair:2}"
[ ${#references[@]} -gt 0 ] || { echo "usage: benchmarks/nas-rank.sh OUT_DIR REFERENCE.json… [-- SAMPLING:EPOCHS…]" >&2; exit 2; }
mkdir -p "$out"
swift build -c release --product weft 2>&1 | tail -1 >&2
space=examples/nas-space.json
for config in $configs; do
    IFS=: read -r sampling epochs <<<"$config"
    dir="$out/$sampling-$epochs"
    mkdir -p "$dir"
    ./launch/weftrun -np 2 -- weft train nas supernet --space "$space" --sampling "$sampling" --epochs "$epochs" \
        --lr 0.02 --checkpoint "$dir" 2>/dev/null | tail -1 >"$dir/supernet.json"
    for reference in "${references[@]}"; do
        read -r sample count < <(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(r["sample"], len(r["architectures"]))' "$reference")
        ./launch/weftrun -np 2 -- weft train nas rank-check --space "$space" --supernet "$dir/supernet.weft" \
            --architectures "$count" --sample "$sample" --standalone "$reference" --latency-table "$out/latency.json" \
            2>/dev/null | tail -1 >"$dir/rank-$(basename "$reference")"
    done
done
python3 - "$out" "${references[@]}" -- $configs <<'PY'
import json, os, sys
out, rest = sys.argv[1], sys.argv[2:]
references, configs = rest[:rest.index("--")], rest[rest.index("--") + 1:]
def last(path): return json.loads(open(path).read().strip().splitlines()[-1])
print("| supernet | epochs | train s | samples/s | " + " | ".join(
    f"tau, {os.path.basename(r)} [90 % interval]" for r in references) + " |")
print("|---|---:|---:|---:|" + "---:|" * len(references))
for config in configs:
    sampling, epochs = config.split(":")
    d = os.path.join(out, f"{sampling}-{epochs}")
    s = last(os.path.join(d, "supernet.json"))
    cells = []
    for r in references:
        k = last(os.path.join(d, "rank-" + os.path.basename(r)))
        lo, hi = k["kendall_tau_interval"]
        cells.append(f"{k['kendall_tau']:.2f} [{lo:.2f}, {hi:.2f}]")
    print(f"| {sampling} | {epochs} | {s['wall_s']:.0f} | {s['samples_per_s']:.0f} | " + " | ".join(cells) + " |")
for r in references:
    k = last(os.path.join(out, f"{configs[0].replace(':', '-')}", "rank-" + os.path.basename(r)))
    print(f"\n{os.path.basename(r)}: parameter count alone ranks it with tau {k['parameters_tau']:.2f}"
          + (f"; the stand-alone seeds agree with tau {k['seed_tau']:.2f}" if k.get("seed_tau") is not None else ""))
PY
