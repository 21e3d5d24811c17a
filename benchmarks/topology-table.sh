#!/usr/bin/env bash
# The topology comparison table of docs/TOPOLOGIES.md: `weft topo show --json` on the
# ~1K-endpoint descriptors, printed as a Markdown table.
#   benchmarks/topology-table.sh [WEFT]   (default .build/release/weft)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
weft="${1:-.build/release/weft}"
files=(fat-tree-k16 torus-10x10x10 dragonfly-1k dragonfly-plus-1k hyperx express-mesh)
for f in "${files[@]}"; do
    printf '%s\t' "$f"
    "$weft" topo show "topologies/$f.toml" --json
done | python3 -c '
import json, sys
cols = ["endpoints", "switches", "links", "radix", "diameter_links", "average_links", "bisection_links",
        "bisection_GBps", "links_per_endpoint", "cost"]
print("| descriptor | endpoints | switches | links | radix | diameter (links) | average (links) | bisection (links) | bisection GB/s | links per endpoint | cost |")
print("|---|" + "---:|" * len(cols))
for line in sys.stdin:
    name, text = line.split("\t", 1)
    m = json.loads(text)
    cells = []
    for c in cols:
        v = m[c]
        cells.append("%.2f" % v if c in ("average_links", "links_per_endpoint") else "{:,.0f}".format(v))
    print("| " + name + " | " + " | ".join(cells) + " |")
'
