#!/usr/bin/env bash
# Pulls inside a node (NodePulls / pull.c) on or off, across 2 emulated hosts x 2 ranks.
# Jobs of one kind each alternate, round after round: native Open MPI alone, two-level with
# pulls (the default), two-level with WEFT_CROSS_MEMORY=0 (node-mates exchange messages
# through Open MPI's shared-memory transport). One algorithm per job, so that nothing one
# side does can colour the other's figure (a first A/B saw native 12-19 % faster in jobs
# where two-level pulled; a re-check did not reproduce it). Each job: --rounds 5 of 10 iterations;
# the table gives the median over jobs of each job's figure (µs).
#
#   benchmarks/node-pulls.sh [OUT_DIR] [ROUNDS_OF_JOBS=6] [slot|node] [weft|interposed]
#     (root, iproute2, release build; node = ranks placed round-robin, --map-by node)
# interposed: the same through libweft-mpi.so — benchmarks/osu_collective.c allreduce, plain
# (native) or with LD_PRELOAD and WEFT_ALGO=two-level (pulls on or off); its iterations
# follow osu_collective's scaling (1 MiB: 250 calls, 16 MiB: 62), the mean over ranks.
# Caveat: the "network" is the kernel's TCP over a veth bridge on the same 2 vCPUs as the ranks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/node-pulls}"
rounds="${2:-6}"
placement="${3:-slot}"
tool="${4:-weft}"
netns=../shared/tools/netns-hosts
weft="$PWD/.build/release/weft"
[ -x "$weft" ] || { echo "node-pulls.sh: $weft is not built; run: swift build -c release" >&2; exit 2; }
case "$placement" in slot|node) ;; *) echo "node-pulls.sh: placement '$placement' is not slot or node" >&2; exit 2 ;; esac
mkdir -p "$out"
case "$tool" in
weft) ;;
interposed)
    library="$PWD/.build/release/libweft-mpi.so"
    [ -r "$library" ] || { echo "node-pulls.sh: $library is not built; run: swift build -c release" >&2; exit 2; }
    mpicc -O2 -std=c11 -o "$out/osu_collective" benchmarks/osu_collective.c -lm ;;
*) echo "node-pulls.sh: tool '$tool' is not weft or interposed" >&2; exit 2 ;;
esac
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
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); $rounds rounds of jobs, --map-by $placement, $tool"
rows="$out/rows.csv"
: >"$rows"
for round in $(seq 1 "$rounds"); do
    for kind in mpi two-level:pulls two-level:messages; do
        switch=()
        [ "${kind#*:}" = messages ] && switch=(-x WEFT_CROSS_MEMORY=0)
        if [ "$tool" = weft ]; then
            "$netns" mpirun --host 10.77.0.2:2,10.77.0.3:2 -np 4 --map-by "$placement" "${switch[@]}" "$weft" bench allreduce \
                --algorithm "${kind%%:*}" --unregistered --min-bytes 1M --max-bytes 16M --iters 10 --rounds 5 --warmup 2 --format csv \
                --timeout 120 2>>"$out/errors.txt" | awk -F, -v k="$kind" '/^[0-9]/ { print k "," $1 "," $4 }' >>"$rows"
        else
            [ "$kind" = mpi ] || switch+=(-x LD_PRELOAD="$library" -x WEFT_ALGO=two-level)
            "$netns" mpirun --host 10.77.0.2:2,10.77.0.3:2 -np 4 --map-by "$placement" "${switch[@]}" "$out/osu_collective" \
                allreduce --min-bytes 1M --max-bytes 16M --check 2>>"$out/errors.txt" \
                | awk -v k="$kind" '/^[0-9]/ { print k "," $1 "," $2 }' >>"$rows"
        fi
    done
done
python3 - "$rows" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    kind, size, us = line.strip().split(",")
    times.setdefault((kind, int(size)), []).append(float(us))
kinds = ["mpi", "two-level:pulls", "two-level:messages"]
print(f"{'bytes':>9} {'mpi':>9} {'2-lvl pulls':>12} {'2-lvl msgs':>11} {'mpi/pulls':>10} {'mpi/msgs':>9} {'msgs/pulls':>11}")
for size in sorted({k[1] for k in times}):
    m = {k: statistics.median(times[(k, size)]) for k in kinds}
    p, q = m["two-level:pulls"], m["two-level:messages"]
    print(f"{size:>9} {m['mpi']:>9.0f} {p:>12.0f} {q:>11.0f} {m['mpi'] / p:>10.2f} {m['mpi'] / q:>9.2f} {q / p:>11.2f}")
PY
