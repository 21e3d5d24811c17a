#!/usr/bin/env bash
# How fast could any allreduce be across 2 emulated hosts x 2 ranks? Beside native Open MPI
# and Weft's algorithms, in alternating rounds: the floor (cross_host_floor.py: plain TCP
# moving the B bytes each host must receive, 2 streams each way, nothing else); the two
# halves of `two-level` alone — inside one host (2 ranks on h1) and across (1 rank per host,
# the B/2 shard one pair carries); and native vs two-level with ranks placed round-robin
# (--map-by node: 0,2 on h1, 1,3 on h2), where Open MPI's recursive halving crosses hosts
# with half the vector first. Medians over ROUNDS rounds of ITERS iterations. Ordinary
# buffers (--unregistered), as measured in docs/BENCHMARKS.md; registered-across.sh has both.
#
#   benchmarks/multinode-floor.sh [OUT_DIR] [ROUNDS=5] [ITERS=20]   (root, iproute2, release build)
# Caveat: the "network" is the kernel's TCP over a veth bridge on the same 2 vCPUs as the
# ranks, so every byte across costs CPU time the ranks also need.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/multinode-floor}"
rounds="${2:-5}"
iters="${3:-20}"
netns=../shared/tools/netns-hosts
weft="$PWD/.build/release/weft"
[ -x "$weft" ] || { echo "multinode-floor.sh: $weft is not built; run: swift build -c release" >&2; exit 2; }
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
sizes=1048576,2097152,4194304,8388608,16777216
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); $rounds rounds x $iters iterations"
rows="$out/rows.csv"
: >"$rows"
bench() {  # LABEL HOSTS NP MIN MAX ALGORITHMS [MPIRUN OPTIONS…]
    "$netns" mpirun --host "$2" -np "$3" "${@:7}" "$weft" bench allreduce --algorithm "$6" --unregistered --min-bytes "$4" \
        --max-bytes "$5" --iters "$iters" --warmup 3 --format csv --timeout 120 2>>"$out/errors.txt" \
        | awk -F, -v label="$1" '/^[0-9]/ { print label "," $1 "," $3 "," $4 }' >>"$rows"
}
for round in $(seq "$rounds"); do
    ip netns exec h1 python3 benchmarks/cross_host_floor.py listen - 2 "$sizes" "$iters" >"$out/floor.csv" &
    listener=$!
    ip netns exec h2 python3 benchmarks/cross_host_floor.py connect 10.77.0.2 2 "$sizes" "$iters" >/dev/null
    wait "$listener"   # a failed floor run stops the script (set -e) rather than leaving empty cells
    awk -F, '{ print "floor," $1 ",tcp," $2 }' "$out/floor.csv" >>"$rows"
    bench 2x2 10.77.0.2:2,10.77.0.3:2 4 1M 16M two-level,rabenseifner,ring,mpi
    bench inside 10.77.0.2:2 2 1M 16M two-level
    bench across 10.77.0.2:1,10.77.0.3:1 2 512K 8M two-level
    bench round-robin 10.77.0.2:2,10.77.0.3:2 4 1M 16M two-level,mpi --map-by node
done
python3 - "$rows" <<'PY'
import collections, statistics, sys
cells = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, size, algorithm, us = line.strip().split(",")
    cells[(label, int(size), algorithm)].append(float(us))
def m(label, size, algorithm):
    v = cells.get((label, size, algorithm))
    return statistics.median(v) if v else float("nan")
print("\n## allreduce, 2 hosts x 2 ranks: medians, us")
print(f"{'bytes':>9} {'floor':>8} {'mpi':>8} {'two-level':>10} {'rabenseif.':>10} {'ring':>8} {'inside':>8} {'across':>8}"
      f" {'mpi/floor':>10} {'best/mpi':>9} {'rr mpi':>8} {'rr 2-lvl':>8} {'rr ratio':>8}")
for size in sorted({k[1] for k in cells if k[0] == "2x2"}):
    floor, native = m("floor", size, "tcp"), m("2x2", size, "mpi")
    weft = {a: m("2x2", size, a) for a in ("two-level", "rabenseifner", "ring")}
    print(f"{size:>9} {floor:>8.0f} {native:>8.0f} {weft['two-level']:>10.0f} {weft['rabenseifner']:>10.0f}"
          f" {weft['ring']:>8.0f} {m('inside', size, 'two-level'):>8.0f} {m('across', size // 2, 'two-level'):>8.0f}"
          f" {native / floor:>10.2f} {native / min(weft.values()):>9.2f} {m('round-robin', size, 'mpi'):>8.0f}"
          f" {m('round-robin', size, 'two-level'):>8.0f} {m('round-robin', size, 'mpi') / m('round-robin', size, 'two-level'):>8.2f}")
PY
