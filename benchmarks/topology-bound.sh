#!/usr/bin/env bash
# Topology-aware allreduce against the injection bound: every candidate algorithm the
# planner weighs, on each shipped ~1K-endpoint descriptor (all endpoints as ranks), at
# 1 MiB, 64 MiB and 256 MiB — predicted time (simulator) and time over the bound
# 2(n-1)/n · bytes / endpoint-link bandwidth. The planner's choice is marked *. The fat
# tree runs twice: as shipped (D-mod-K routing) and with ECMP hashing ("minimal").
#   benchmarks/topology-bound.sh [WEFT]   (default .build/release/weft)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
weft="${1:-.build/release/weft}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/^algorithm = "dmodk"/algorithm = "minimal"/' topologies/fat-tree-k16.toml >"$tmp/fat-tree-k16-ecmp.toml"
files=(topologies/fat-tree-k16.toml "$tmp/fat-tree-k16-ecmp.toml" topologies/torus-10x10x10.toml
       topologies/dragonfly-1k.toml topologies/dragonfly-plus-1k.toml topologies/hyperx.toml topologies/express-mesh.toml)
for f in "${files[@]}"; do
    for size in 1M 64M 256M; do
        "$weft" topo simulate "$f" --algorithm all --bytes "$size" --json | sed "s|^|$(basename "$f" .toml)\t|"
    done
done | python3 -c '
import json, sys
rows, order = {}, []
for line in sys.stdin:
    name, text = line.split("\t", 1)
    c = json.loads(text)
    key = (name, c["algorithm"])
    if key not in rows:
        rows[key] = {}
        order.append(key)
    rows[key][c["bytes"]] = c
sizes = [1 << 20, 64 << 20, 256 << 20]
print("| descriptor | algorithm | 1 MiB (us) | × bound | 64 MiB (us) | × bound | 256 MiB (us) | × bound |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for key in order:
    cells = []
    for s in sizes:
        c = rows[key].get(s)
        if c is None:
            cells += ["-", "-"]
            continue
        mark = " *" if c["chosen"] else ""
        cells += ["%.1f%s" % (c["time_us"], mark), "%.2f" % c["over_bound"]]
    print("| %s | %s | %s |" % (key[0], key[1], " | ".join(cells)))
print()
print("Planner choice per descriptor (* above):")
for name in dict.fromkeys(k[0] for k in order):
    picks = []
    for s in sizes:
        for key in order:
            c = rows[key].get(s)
            if key[0] == name and c and c["chosen"]:
                picks.append("%d MiB %s %.2f×" % (s >> 20, c["algorithm"], c["over_bound"]))
    print("  %-20s %s" % (name, ", ".join(picks)))
'
