#!/usr/bin/env bash
# Two builds of libweft-mpi.so, A and B, each timed against native Open MPI in the same
# process (benchmarks/osu_collective.c --paired: rounds alternate calls through the library
# and through PMPI_, so both sides see the same machine at the same moments). Jobs of A and B
# alternate, round after round; the table gives, per size, the median over jobs of each
# job's speedup (its median over rounds of native time / library time; >1: the library is
# faster) and of its library time.
#
#   benchmarks/interpose-ab.sh OUT_DIR LIB_A [LIB_B=.build/release/libweft-mpi.so] [ROUNDS_OF_JOBS=4] \
#       [PLACEMENT=slot] [ALGORITHM=two-level] [COLLECTIVE=allreduce] [MIN=1M] [MAX=16M]
# PLACEMENT: slot or node (2 emulated hosts x 2 ranks, --map-by; root and iproute2), or
#   local (4 ranks on this machine). Build A from another commit, e.g.
#   git stash -u && swift build -c release && cp .build/release/libweft-mpi.so /tmp/a.so && git stash pop
# ACROSS_A / ACROSS_B: WEFT_ACROSS for each side's jobs (e.g. ACROSS_A=mpi ACROSS_B=sockets with
#   one library for both: Open MPI's point-to-point between hosts against Weft's sockets).
# Caveat: across emulated hosts the "network" is the kernel's TCP over a veth bridge on the
# same 2 vCPUs as the ranks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: interpose-ab.sh OUT_DIR LIB_A [LIB_B] [ROUNDS] [PLACEMENT] [ALGORITHM] [COLLECTIVE] [MIN] [MAX]}"
lib_a="${2:?interpose-ab.sh: give LIB_A, the library to compare with}"
lib_b="${3:-$PWD/.build/release/libweft-mpi.so}"
rounds="${4:-4}" placement="${5:-slot}" algorithm="${6:-two-level}" collective="${7:-allreduce}"
min="${8:-1M}" max="${9:-16M}"
netns=../shared/tools/netns-hosts
for lib in "$lib_a" "$lib_b"; do
    [ -r "$lib" ] || { echo "interpose-ab.sh: $lib is not readable; build it (swift build -c release)" >&2; exit 2; }
done
lib_a=$(realpath "$lib_a") lib_b=$(realpath "$lib_b")
mkdir -p "$out"
mpicc -O2 -std=c11 -o "$out/osu_collective" benchmarks/osu_collective.c -lm
case "$placement" in
slot|node)
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
        echo "skipped: emulated hosts need root and iproute2 (ip)"; exit 0
    fi
    "$netns" up 2 >"$out/netns.log" 2>&1 || { echo "skipped: $netns up failed: $(tail -1 "$out/netns.log")"; exit 0; }
    trap '"$netns" down 2 >>"$out/netns.log" 2>&1' EXIT
    launch=("$netns" mpirun --host 10.77.0.2:2,10.77.0.3:2 -np 4 --map-by "$placement") ;;
local) launch=(./launch/weftrun -np 4 --) ;;
*) echo "interpose-ab.sh: placement '$placement' is not slot, node or local" >&2; exit 2 ;;
esac
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); $rounds rounds of jobs, $placement," \
     "WEFT_ALGO=$algorithm, $collective $min..$max; A=$lib_a${ACROSS_A:+ (WEFT_ACROSS=$ACROSS_A)} B=$lib_b${ACROSS_B:+ (WEFT_ACROSS=$ACROSS_B)}"
rows="$out/rows.csv"
: >"$rows"
for round in $(seq 1 "$rounds"); do
    for side in A B; do
        lib=$lib_a across=${ACROSS_A:-}; [ "$side" = B ] && lib=$lib_b across=${ACROSS_B:-}
        if [ "$placement" = local ]; then
            env LD_PRELOAD="$lib" WEFT_ALGO="$algorithm" ${across:+WEFT_ACROSS=$across} "${launch[@]}" "$out/osu_collective" "$collective" \
                --min-bytes "$min" --max-bytes "$max" --paired 5 --check 2>>"$out/errors.txt"
        else
            "${launch[@]}" -x LD_PRELOAD="$lib" -x WEFT_ALGO="$algorithm" ${across:+-x WEFT_ACROSS=$across} "$out/osu_collective" "$collective" \
                --min-bytes "$min" --max-bytes "$max" --paired 5 --check 2>>"$out/errors.txt"
        fi | awk -v s="$side" '/^[0-9]/ { print s "," $1 "," $3 "," $4 }' >>"$rows" \
            || { echo "interpose-ab.sh: a job of side $side failed; see $out/errors.txt" >&2; exit 1; }
    done
done
python3 - "$rows" <<'PY'
import statistics, sys
ratio, time = {}, {}
for line in open(sys.argv[1]):
    side, size, weft, speedup = line.strip().split(",")
    ratio.setdefault((side, int(size)), []).append(float(speedup))
    time.setdefault((side, int(size)), []).append(float(weft))
print(f"{'bytes':>9} {'A us':>9} {'B us':>9} {'native/A':>9} {'native/B':>9} {'B vs A':>7}")
for size in sorted({k[1] for k in ratio}):
    a, b = statistics.median(ratio[("A", size)]), statistics.median(ratio[("B", size)])
    ta, tb = statistics.median(time[("A", size)]), statistics.median(time[("B", size)])
    print(f"{size:>9} {ta:>9.0f} {tb:>9.0f} {a:>9.2f} {b:>9.2f} {b / a:>7.2f}")
PY
