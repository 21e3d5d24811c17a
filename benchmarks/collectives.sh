#!/usr/bin/env bash
# Reproduces the collective table of docs/BENCHMARKS.md: allreduce, allgather and
# broadcast at 2 and 4 ranks, 8 B to 64 MiB, every Weft algorithm beside native MPI
# (`mpi`) in the same run, results checked against MPI. Prints the tables, then a summary
# of the issue's targets (best Weft vs mpi at >= 1 MiB; auto vs mpi at every size).
#   benchmarks/collectives.sh [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results}"
mkdir -p "$out"
swift build -c release --product weft 2>&1 | tail -1 >&2

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ)"
for ranks in 2 4; do
    for collective in allreduce allgather broadcast; do
        echo
        echo "## $collective, $ranks ranks"
        ./launch/weftrun -np "$ranks" -- weft bench "$collective" --algorithm all,auto --min-bytes 8 --max-bytes 64M \
            --warmup 5 --check | tee "$out/$collective-$ranks.txt"
    done
done

echo
echo "## Summary (medians; ratio = mpi time / Weft time, > 1 means Weft is faster)"
python3 - "$out" <<'PY'
import glob, os, sys
rows = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.txt"))):
    name = os.path.basename(path)[:-4]
    for line in open(path):
        f = line.split()
        if len(f) == 7 and f[0].isdigit():
            rows.setdefault(name, {}).setdefault(int(f[0]), {})[f[2]] = float(f[3])
for name, sizes in rows.items():
    best, auto_worst = [], []
    for size, algs in sorted(sizes.items()):
        mpi = algs.get("mpi")
        weft = {a: t for a, t in algs.items() if a != "mpi" and not a.startswith("auto")}
        auto = [t for a, t in algs.items() if a.startswith("auto")]
        if mpi and weft and size >= 1 << 20:
            a, t = min(weft.items(), key=lambda kv: kv[1])
            best.append(f"{size >> 20}M: {a} {mpi / t:.2f}x")
        if mpi and auto:
            auto_worst.append((auto[0] / mpi, size))
    worst = max(auto_worst) if auto_worst else (0, 0)
    print(f"{name:16s} best Weft vs mpi (>= 1 MiB): {', '.join(best)}")
    print(f"{'':16s} auto slowest vs mpi: {worst[0]:.2f}x mpi's time at {worst[1]} bytes")
PY
