#!/usr/bin/env python3
"""Simulated allreduce time vs message size per algorithm on a topology, as a table on
stdout and an SVG line chart (log-log), from `weft topo simulate --json`.

    benchmarks/plot-allreduce.py [--topology topologies/dragonfly-1k.toml] [--ranks N]
                                 [--weft .build/release/weft] [--out docs/allreduce-dragonfly-1k.svg]

Only the standard library: the SVG is written directly.
"""
import argparse
import json
import math
import subprocess
import sys

ALGORITHMS = ["ring", "tree", "double-tree", "recursive-doubling", "rabenseifner", "topo-ring", "hierarchical",
              "dragonfly", "torus"]
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def simulate(weft, topology, algorithm, size, ranks):
    cmd = [weft, "topo", "simulate", topology, "--collective", "allreduce", "--algorithm", algorithm,
           "--bytes", str(size), "--json"] + (["--ranks", str(ranks)] if ranks else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return None  # the algorithm does not suit this network (said on stderr)
    return json.loads(out.stdout)["time_us"]


def human(size):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= div:
            return f"{size // div} {unit}"
    return f"{size} B"


def svg(series, sizes, title, path):
    w, h, left, right, top, bottom = 860, 520, 80, 190, 40, 60
    xs = [math.log2(s) for s in sizes]
    ys = [math.log10(t) for _, pts in series for t in pts if t]
    x0, x1 = min(xs), max(xs)
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    def px(x): return left + (x - x0) / (x1 - x0) * (w - left - right)
    def py(y): return top + (y1 - y) / (y1 - y0) * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2 - 60}" y="22" font-size="15" text-anchor="middle">{title}</text>']
    for e in range(y0, y1 + 1):
        y = py(e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g} µs</text>')
    for s in sizes[::2]:
        x = px(math.log2(s))
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{h - bottom + 18}" text-anchor="middle">{human(s)}</text>')
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 15}" text-anchor="middle">message size</text>')
    for i, (name, pts) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{px(math.log2(s)):.1f},{py(math.log10(t)):.1f}" for s, t in zip(sizes, pts) if t)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        ly = top + 20 * i + 10
        out.append(f'<line x1="{w - right + 15}" y1="{ly}" x2="{w - right + 40}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{w - right + 46}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topology", default="topologies/dragonfly-1k.toml")
    ap.add_argument("--ranks", type=int, default=0, help="default: every endpoint")
    ap.add_argument("--weft", default=".build/release/weft")
    ap.add_argument("--out", default="docs/allreduce-dragonfly-1k.svg")
    args = ap.parse_args()
    sizes = [1 << e for e in range(3, 29, 1)]  # 8 B … 256 MiB
    series = []
    for algorithm in ALGORITHMS:
        pts = [simulate(args.weft, args.topology, algorithm, s, args.ranks) for s in sizes]
        if any(pts):
            series.append((algorithm, pts))
    names = [n for n, _ in series]
    print("| bytes | " + " | ".join(names) + " | best |")
    print("|---:|" + "---:|" * len(names) + "---|")
    for i, s in enumerate(sizes):
        row = [pts[i] for _, pts in series]
        best = names[min(range(len(row)), key=lambda k: row[k] if row[k] else math.inf)]
        print(f"| {human(s)} | " + " | ".join(f"{t:.1f}" if t else "—" for t in row) + f" | {best} |")
    svg(series, sizes, f"Simulated allreduce on {args.topology.split('/')[-1]} (time per call, µs)", args.out)
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
