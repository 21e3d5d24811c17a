#!/usr/bin/env bash
# Two-level allreduce across 2 emulated hosts × 2 ranks (or LAYOUT) on registered buffers (each host's
# ranks share a window, so two-level's steps inside a host read node-mates' buffers with
# plain loads) and on ordinary ones (the same steps read through process_vm_readv), with
# ranks placed by slot (2+2: 0,1 | 2,3) and round-robin (0,2 | 1,3). Each job times two-level and
# native Open MPI in interleaved rounds (`weft bench --rounds 5`), so drift falls on both;
# jobs alternate over buffers and placements, REPEATS times. Prints, per size, the median
# over jobs of native / two-level with its range, and the median times.
#
#   benchmarks/registered-across.sh [OUT_DIR] [REPEATS=4] [MIN=64K] [MAX=16M] [COLLECTIVE=allreduce]
#   LAYOUT=3+1 benchmarks/registered-across.sh ...   # ranks per host (default 2+2), 2 to 4 hosts (1+1+1)
# Needs root and iproute2 (../shared/tools/netns-hosts) and a release build. Caveat: the
# "network" is a kernel bridge on the same 2 cores; compare ratios taken in the same job.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/registered-across}"
repeats="${2:-4}"
min="${3:-64K}"
max="${4:-16M}"
collective="${5:-allreduce}"
layout="${LAYOUT:-2+2}"
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "registered-across.sh: REPEATS='$repeats' is not a positive number of jobs per cell" >&2; exit 2; }
[[ "$layout" =~ ^[1-9][0-9]?(\+[1-9][0-9]?){1,3}$ ]] || { echo "registered-across.sh: LAYOUT='$layout' is not ranks per host as A+B[+C[+D]] (e.g. 2+1)" >&2; exit 2; }
IFS=+ read -ra counts <<<"$layout"
hosts="" ranks=0 over=()
for i in "${!counts[@]}"; do
    hosts+="${hosts:+,}10.77.0.$((i + 2)):${counts[$i]}"
    ranks=$((ranks + counts[i]))
    if [ "${counts[$i]}" -gt 2 ]; then over=(--oversubscribe); fi   # more ranks than a host's 2 cores
done
maps=(slot node)
if [[ "$layout" =~ ^1(\+1)+$ ]]; then maps=(slot); fi   # one rank per host: both placements are one
netns=../shared/tools/netns-hosts
weft="$PWD/.build/release/weft"
[ -x "$weft" ] || { echo "registered-across.sh: $weft is not built; run: swift build -c release" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null || { echo "registered-across.sh: needs root and iproute2 (ip)" >&2; exit 2; }
mkdir -p "$out"
"$netns" up "${#counts[@]}" >/dev/null
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); ${#counts[@]} hosts, $layout ranks; $collective; $repeats job(s) per cell"
for repeat in $(seq "$repeats"); do
    for map in "${maps[@]}"; do
        for buffers in registered ordinary; do
            flag=(); [ "$buffers" = ordinary ] && flag=(--unregistered)
            "$netns" mpirun --host "$hosts" -np "$ranks" "${over[@]}" ${WEFT_ACROSS:+-x WEFT_ACROSS} --map-by "$map" "$weft" bench "$collective" \
                --algorithm two-level,mpi "${flag[@]}" --min-bytes "$min" --max-bytes "$max" --rounds 5 --iters 10 \
                --format csv --timeout 300 >"$out/$map-$buffers-$repeat.csv"
        done
    done
done
python3 - "$out" "$repeats" <<'PY'
import statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
def rows(path):
    table = {}
    for line in open(path):
        if line[:1].isdigit():
            b, _, algorithm, t = line.split(",")[:4]
            table.setdefault(int(b), {})[algorithm] = float(t)
    return table
import os
for map, label in (("slot", "slot (consecutive ranks per host)"), ("node", "round-robin (--map-by node)")):
    if not os.path.exists(f"{out}/{map}-registered-1.csv"):
        continue
    print(f"\n## {label}: native / two-level per job (median [min-max]); median time_us")
    print(f"{'bytes':>10} {'registered':>22} {'ordinary':>22} {'mpi reg':>9} {'2L reg':>9} {'mpi ord':>9} {'2L ord':>9}")
    jobs = {k: [rows(f"{out}/{map}-{k}-{r}.csv") for r in range(1, repeats + 1)] for k in ("registered", "ordinary")}
    for b in sorted(jobs["registered"][0]):
        cells, times = [], []
        for k in ("registered", "ordinary"):
            ratios = [j[b]["mpi"] / j[b]["two-level"] for j in jobs[k]]
            cells.append(f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
            times += [statistics.median(j[b][a] for j in jobs[k]) for a in ("mpi", "two-level")]
        print(f"{b:>10} {cells[0]:>22} {cells[1]:>22} " + " ".join(f"{t:>9.0f}" for t in times))
PY
