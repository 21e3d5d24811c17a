#!/usr/bin/env bash
# Pulls inside a node (NodePulls / pull.c) on or off, across 2 emulated hosts x 2 ranks: jobs
# alternate between the default (pulls) and WEFT_CROSS_MEMORY=0 (node-mates exchange
# messages through Open MPI's shared-memory transport). Each job times native Open MPI
# beside the Weft algorithms in interleaved rounds (--rounds 5), so the figure per job is
# native time / algorithm time with drift falling on both; the table is the median over jobs.
#
#   benchmarks/node-pulls.sh [OUT_DIR] [JOB_PAIRS=6] [slot|node] [ALGORITHMS=two-level,ring]
#     (root, iproute2, release build; node = ranks placed round-robin, --map-by node)
# Caveat: the "network" is the kernel's TCP over a veth bridge on the same 2 vCPUs as the ranks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/node-pulls}"
pairs="${2:-6}"
placement="${3:-slot}"
algorithms="${4:-two-level,ring}"
netns=../shared/tools/netns-hosts
weft="$PWD/.build/release/weft"
[ -x "$weft" ] || { echo "node-pulls.sh: $weft is not built; run: swift build -c release" >&2; exit 2; }
case "$placement" in slot|node) ;; *) echo "node-pulls.sh: placement '$placement' is not slot or node" >&2; exit 2 ;; esac
mkdir -p "$out"
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
    echo "skipped: emulated hosts need root and iproute2 (ip)"
    exit 0
fi
if ! "$netns" up 2 >"$out/netns.log" 2>&1; then
    echo "skipped: $netns up failed: $(tail -1 "$out/netns.log")"
    exit 0
fi
trap '"$netns" down 2 >>"$out/netns.log" 2>&1' EXIT
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); $pairs job pairs, --map-by $placement"
rows="$out/rows.csv"
: >"$rows"
for job in $(seq 1 "$pairs"); do
    for pulls in on off; do
        switch=()
        [ "$pulls" = off ] && switch=(-x WEFT_CROSS_MEMORY=0)
        "$netns" mpirun --host 10.77.0.2:2,10.77.0.3:2 -np 4 --map-by "$placement" "${switch[@]}" "$weft" bench allreduce \
            --algorithm "mpi,$algorithms" --min-bytes 1M --max-bytes 16M --iters 10 --rounds 5 --warmup 2 --format csv \
            --timeout 120 2>>"$out/errors.txt" | awk -F, -v p="$pulls" -v j="$job" '/^[0-9]/ { print p "," j "," $1 "," $3 "," $4 }' >>"$rows"
    done
done
python3 - "$rows" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    pulls, job, size, algorithm, us = line.strip().split(",")
    times[(pulls, job, int(size), algorithm)] = float(us)
jobs = sorted({k[1] for k in times})
sizes = sorted({k[2] for k in times})
algorithms = sorted({k[3] for k in times if k[3] != "mpi"})
print(f"{'bytes':>9} {'algorithm':>12} {'pulls: mpi/alg':>15} {'no pulls':>9}   (median over {len(jobs)} jobs)")
for size in sizes:
    for algorithm in algorithms:
        ratio = {p: statistics.median(times[(p, j, size, "mpi")] / times[(p, j, size, algorithm)] for j in jobs)
                 for p in ("on", "off")}
        print(f"{size:>9} {algorithm:>12} {ratio['on']:>15.2f} {ratio['off']:>9.2f}")
PY
