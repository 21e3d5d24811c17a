#!/usr/bin/env python3
"""Summarises benchmarks/methods.sh results: mean ± std over seeds of the mean peer test
accuracy and of the ensemble accuracy, per model, data set and method."""
import glob
import json
import os
import statistics
import sys

d = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/methods"
runs = {}
for path in sorted(glob.glob(os.path.join(d, "*.json"))):
    name = os.path.basename(path)[:-5]
    model, data, method, seed = name.split("-")
    try:
        r = json.load(open(path))
    except json.JSONDecodeError:
        continue
    runs.setdefault((model, data, method), []).append(r)


def pm(values):
    values = [100 * v for v in values]
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "—"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


order = ["independent", "dml2", "dml4", "codistill2", "codistill4", "dp2"]
print("| model | data | method | seeds | mean peer accuracy (%) | ensemble accuracy (%) | MB across groups | MB in groups | wall (s) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for (model, data) in sorted({(m, x) for m, x, _ in runs}, key=lambda k: (k[0] != "mlp", k[1] != "full")):
    for method in order:
        rs = runs.get((model, data, method))
        if not rs:
            continue
        peer = [statistics.mean(r["peer_accuracies"]) for r in rs]
        ens = [r["ensemble_accuracy"] for r in rs]
        across = statistics.mean(r["comm_bytes_across_groups"] for r in rs) / 1e6
        within = statistics.mean(r["comm_bytes_in_group"] for r in rs) / 1e6
        wall = statistics.mean(r["wall_s"] for r in rs)
        print(f"| {model} | {data} | {method} | {len(rs)} | {pm(peer)} | {pm(ens)} | {across:.1f} | {within:.1f} | {wall:.1f} |")
