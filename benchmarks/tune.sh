#!/usr/bin/env bash
# `weft tune`, then checked: with the tuning file, is `auto` within 5% of the best
# algorithm at every size the tuner measured? The tuner runs once on N ranks (3 interleaved
# rounds of 40 iterations per size and algorithm); then, per collective and buffer kind,
# `weft bench --algorithm all,auto --tuning FILE --rounds 5` re-measures every algorithm and
# auto side by side, interleaved, and a table shows best vs auto per size.
#
#   benchmarks/tune.sh [OUT_DIR] [RANKS] [MAX_BYTES]     (default benchmarks/results/tune 2 16M)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/tune}"
ranks="${2:-2}"
max="${3:-16M}"
collectives=(allreduce reduce-scatter allgather broadcast)
mkdir -p "$out"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $ranks ranks; 1K..$max"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
start=$SECONDS
./launch/weftrun -np "$ranks" -- weft tune --collectives "$(IFS=,; echo "${collectives[*]}")" --min-bytes 1K \
    --max-bytes "$max" -o "$out/tuning.toml" 2>"$out/tune.err"
echo "# weft tune took $((SECONDS - start)) s; file: $out/tuning.toml"
for collective in "${collectives[@]}"; do
    for kind in registered ordinary; do
        flag=()
        [ "$kind" = ordinary ] && flag=(--unregistered)
        ./launch/weftrun -np "$ranks" -- weft bench "$collective" --algorithm all,auto --tuning "$out/tuning.toml" \
            --min-bytes 1K --max-bytes "$max" --iters 40 --rounds 5 "${flag[@]}" --format csv >"$out/$collective-$kind.csv"
        python3 - "$collective" "$kind" "$out/$collective-$kind.csv" <<'PY'
import sys
name, kind, path = sys.argv[1:]
table = {}
for line in open(path):
    if line[:1].isdigit():
        b, _, algorithm, t = line.split(",")[:4]
        table.setdefault(int(b), {})[algorithm] = float(t)
print(f"\n## {name}, {kind} buffers")
print(f"{'bytes':>10} {'best':>20} {'auto':>22} {'auto/best':>10}")
worst = 0
for b in sorted(table):
    row = table[b]
    auto = next((k, v) for k, v in row.items() if k.startswith("auto"))
    best = min(((k, v) for k, v in row.items() if not k.startswith("auto")), key=lambda kv: kv[1])
    ratio = auto[1] / best[1]
    worst = max(worst, ratio)
    print(f"{b:>10} {best[0]:>11}:{best[1]:>8.1f} {auto[0]:>13}:{auto[1]:>8.1f} {ratio:>10.2f}")
print(f"# worst auto/best: {worst:.2f}; sizes within 5%: {sum(1 for b in table if min(v for k, v in table[b].items() if k.startswith('auto')) <= 1.05 * min(v for k, v in table[b].items() if not k.startswith('auto')))} of {len(table)}")
PY
    done
done
