#!/usr/bin/env bash
# Across nodes: 2 emulated hosts × 2 ranks (network namespaces, TCP over a kernel bridge
# between hosts, shared memory inside each; ../shared/tools/netns-hosts), allreduce,
# allgather and broadcast from 64 KiB to 64 MiB, every Weft algorithm beside native Open MPI
# twice: its default (coll/tuned) and with its own hierarchical component
# (--mca coll_han_priority 100). One table per collective: time_us per algorithm (median of
# the slowest rank), then Weft's best and auto against the faster native.
#
#   benchmarks/multinode.sh [OUT_DIR] [ITERS]     (needs root and iproute2; release build)
# BUFFERS=registered (the default: `weft bench`'s, each host's ranks share a window) or
# BUFFERS=ordinary (--unregistered: plain memory; what libweft-mpi.so gets from programs).
# Caveat: the "network" is a kernel bridge between namespaces on a 2-core machine, so
# absolute bandwidths are low and noisy; compare ratios measured in the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/multinode}"
iters="${2:-10}"
buffers="${BUFFERS:-registered}"
case "$buffers" in
    registered) flag=() ;;
    ordinary) flag=(--unregistered) ;;
    *) echo "multinode.sh: BUFFERS must be registered or ordinary, not '$buffers'" >&2; exit 2 ;;
esac
netns=../shared/tools/netns-hosts
weft="$PWD/.build/release/weft"
[ -x "$weft" ] || { echo "multinode.sh: $weft is not built; run: swift build -c release" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null || { echo "multinode.sh: needs root and iproute2 (ip)" >&2; exit 2; }
mkdir -p "$out"
"$netns" up 2 >/dev/null
trap '"$netns" down 2 >/dev/null 2>&1 || true' EXIT
hosts=10.77.0.2:2,10.77.0.3:2
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); 2 hosts x 2 ranks; $iters iterations; $buffers buffers"
for collective in allreduce allgather broadcast; do
    for variant in tuned han; do
        extra=()
        # Open MPI 4.1.4's han has crashed here (SIGSEGV after a failed CMA read): keep going.
        [ "$variant" = han ] && extra=(--mca coll_han_priority 100)
        "$netns" mpirun --host "$hosts" -np 4 "${extra[@]}" "$weft" bench "$collective" --algorithm all,auto "${flag[@]}" \
            --min-bytes 64K --max-bytes 64M --iters "$iters" --warmup 2 --format csv --timeout 300 \
            >"$out/$collective-$variant.csv" 2>"$out/$collective-$variant.err" \
            || echo "# $collective with coll/$variant: mpirun failed ($(grep -m1 -o 'Signal [0-9]*' "$out/$collective-$variant.err" || echo 'exit non-zero')); its rows are missing"
    done
    python3 - "$collective" "$out/$collective-tuned.csv" "$out/$collective-han.csv" <<'PY'
import csv, sys
name, tuned, han = sys.argv[1:]
def rows(path):
    table = {}
    for line in open(path):
        if not line[:1].isdigit():
            continue
        b, _, algorithm, t = line.split(",")[:4]
        table.setdefault(int(b), {})[algorithm] = float(t)
    return table
a, h = rows(tuned), rows(han)
algorithms = [x for x in next(iter(a.values())) if not x.startswith("auto") and x != "mpi"]
print(f"\n## {name}, 2 hosts x 2 ranks — time_us")
print(f"{'bytes':>10} " + " ".join(f"{x:>13}" for x in algorithms) + f" {'auto':>18} {'mpi(tuned)':>11} {'mpi(han)':>11} {'best/native':>12} {'auto/native':>12}")
for b in sorted(a):
    r = a[b]
    auto = next((k, v) for k, v in r.items() if k.startswith("auto"))
    native = min(r["mpi"], h.get(b, {}).get("mpi", float("inf")))
    best = min(r[x] for x in algorithms)
    print(f"{b:>10} " + " ".join(f"{r[x]:>13.1f}" for x in algorithms)
          + f" {auto[0][5:]:>9}:{auto[1]:>8.1f} {r['mpi']:>11.1f} {h.get(b, {}).get('mpi', float('nan')):>11.1f}"
          + f" {native / best:>12.2f} {native / auto[1]:>12.2f}")
PY
done
