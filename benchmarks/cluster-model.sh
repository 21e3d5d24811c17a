#!/usr/bin/env bash
# Does the simulator predict a (small, emulated) cluster? 2 network-namespace hosts x 2 ranks
# (../shared/tools/netns-hosts: TCP over a kernel bridge between hosts, shared memory inside).
# REPEATS times, back to back (the VM's speed drifts by 10-30 % from minute to minute, so each
# prediction is compared with a measurement taken right after its own calibration):
# 1. Calibrate: two ring allreduce runs the comparison never uses — 4 ranks placed
#    round-robin (0,2 | 1,3: every step of the ring crosses, two streams each way per host,
#    as many as a host has ranks) for the host link, and 2 ranks on one host for memory — at
#    8 B (latency) and 16 MiB (bandwidth) give a descriptor: h1, h2 on one switch,
#    ranks_per_endpoint = 2. (Until 2026-11-27 the link was timed by 1 rank per host, one
#    stream each way. Over Weft's own sockets one stream is bound by the one core that copies
#    it, while two-level's two streams per host use both: predictions came out 1.3-1.8x slow.)
# 2. Measure: weft bench allreduce two-level, ring, rabenseifner, mpi on 2+2 ranks, 1-16 MiB,
#    ITERS iterations (the run's median).
# 3. Predict the same schedules with `weft topo simulate` on that repeat's descriptor.
# Each cell: the median over repeats of the measurement, of the prediction, and of the
# repeats' predicted / measured (the target is within 25 %), with that ratio's range; the
# last lines give the worst size both ways (median of ratios, and ratio of medians).
#
#   benchmarks/cluster-model.sh [OUT_DIR] [ITERS=10] [REPEATS=5]   (root, iproute2, release build)
# BUFFERS=ordinary (default; the runs in docs/BENCHMARKS.md) or registered: the 2+2
# measurement's buffers (`weft bench --unregistered` or not). The model knows no buffer kind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/cluster-model}"
iters="${2:-10}"
# The memory calibration times what two-level's steps inside a host do with that kind of
# buffer: messages through Open MPI (a 2-rank ring) for ordinary buffers, loads from a
# node-mate's window (`direct` on registered buffers, one step) for registered ones.
case "${BUFFERS:-ordinary}" in
    ordinary) kind=(--unregistered) memory=ring ;;
    registered) kind=() memory=direct ;;
    *) echo "cluster-model.sh: BUFFERS must be ordinary or registered, not '$BUFFERS'" >&2; exit 2 ;;
esac
repeats="${3:-5}"
netns=../shared/tools/netns-hosts
weft="$PWD/.build/release/weft"
[ -x "$weft" ] || { echo "cluster-model.sh: $weft is not built; run: swift build -c release" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -x "$netns" ] || ! "$netns" up 2 >/dev/null 2>&1; then
    echo "skipped: emulated hosts need root, iproute2 and $netns"
    exit 0
fi
trap '"$netns" down 2 >/dev/null 2>&1 || true' EXIT
mkdir -p "$out"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(mpirun --version | head -1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); $repeats runs x $iters iterations; ${BUFFERS:-ordinary} buffers for 2+2"

bench() {  # HOSTS NP OUTFILE ARGS…   (MAP=node: ranks placed round-robin)
    local hosts=$1 np=$2 file=$3
    shift 3
    timeout 600 "$netns" mpirun --host "$hosts" -np "$np" --map-by "${MAP:-slot}" "$weft" bench allreduce --warmup 2 --format csv \
        --timeout 120 "$@" >"$file" 2>"$file.err" || { echo "cluster-model.sh: mpirun failed, see $file.err" >&2; exit 1; }
}
for r in $(seq 1 "$repeats"); do
    MAP=node bench 10.77.0.2:2,10.77.0.3:2 4 "$out/calibrate-link-$r.csv" --algorithm ring --min-bytes 8 --max-bytes 16M --iters 20
    bench 10.77.0.2:2 2 "$out/calibrate-memory-$r.csv" --algorithm "$memory" --min-bytes 8 --max-bytes 16M --iters 20
    bench 10.77.0.2:2,10.77.0.3:2 4 "$out/measured-$r.csv" --algorithm two-level,ring,rabenseifner,mpi \
        --min-bytes 1M --max-bytes 16M --iters "$iters" "${kind[@]}"
done

python3 - "$weft" "$out" "$repeats" "$memory" <<'PY'
import json, statistics, subprocess, sys
weft, out, repeats, memory_algorithm = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
M, overhead = 16 << 20, 0.5e-6   # calibration size; the simulator's per-step overhead

def rows(path):
    table = {}
    for line in open(path):
        if line[:1].isdigit():
            b, _, algorithm, t = line.split(",")[:4]
            table[(int(b), algorithm)] = float(t) * 1e-6
    return table

# The simulator's ring of n ranks: 2(n-1) steps, each latency + M/n over the flow's share +
# overhead. Placed round-robin on 2 hosts, every flow of the 4-rank ring crosses 2 host links
# (latency twice) and shares each with the host's other stream (each gets half): a step
# takes 2·latency + overhead + (M/4)/(bandwidth/2). On one host both ranks' copies share the
# memory channel (each gets half); its 2-rank `direct` moves the same bytes in one step.
def calibrate(r):
    link, memory = rows(f"{out}/calibrate-link-{r}.csv"), rows(f"{out}/calibrate-memory-{r}.csv")
    link_latency = max(link[(8, "ring")] / 6 - overhead, 0) / 2
    link_bandwidth = 6 * (M / 2) / (link[(M, "ring")] - 6 * (2 * link_latency + overhead))
    steps = 2 if memory_algorithm == "ring" else 1
    memory_latency = max(memory[(8, memory_algorithm)] / steps - overhead, 0)
    memory_bandwidth = 2 * M / (memory[(M, memory_algorithm)] - steps * (memory_latency + overhead))
    path = f"{out}/emulated-2hosts-{r}.toml"
    open(path, "w").write(f"""# Calibrated by benchmarks/cluster-model.sh, repeat {r} (see topologies/emulated-2hosts.toml).
kind = "custom"
name = "2 emulated hosts x 2 ranks (netns, kernel bridge)"
[[switch]]
name = "bridge"
[[endpoint]]
name = "h1"
switch = "bridge"
[[endpoint]]
name = "h2"
switch = "bridge"
[links.terminal]
bandwidth = "{link_bandwidth / 1e9:.4f}GB/s"
latency = "{link_latency * 1e6:.3f}us"
[links.memory]
bandwidth = "{memory_bandwidth / 1e9:.4f}GB/s"
latency = "{memory_latency * 1e6:.3f}us"
[placement]
policy = "linear"
ranks_per_endpoint = 2
""")
    print(f"# repeat {r}: host link {link_bandwidth / 1e9:.3f} GB/s, {link_latency * 1e6:.2f} us per link; "
          f"memory {memory_bandwidth / 1e9:.3f} GB/s per host, {memory_latency * 1e6:.2f} us")
    return path

def simulate(path, algorithm, ranks, bytes):
    result = subprocess.run([weft, "topo", "simulate", path, "--algorithm", algorithm,
                             "--ranks", str(ranks), "--bytes", str(bytes), "--json"],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["time_us"] * 1e-6

descriptors = [calibrate(r) for r in range(1, repeats + 1)]
runs = [rows(f"{out}/measured-{r}.csv") for r in range(1, repeats + 1)]
scheduled = ["two-level", "ring", "rabenseifner"]
header = "| bytes | " + " | ".join(f"{a} measured µs | predicted µs | pred/meas (range)" for a in scheduled) \
    + " | mpi measured µs |"
print("\n## allreduce, 2 emulated hosts x 2 ranks: measured vs simulated (medians over repeats)\n")
print(header)
print("|" + "---:|" * (header.count("|") - 1))
worst, worst_of_medians = {}, {}
for bytes in sorted({b for b, _ in runs[0]}):
    cells = [f"{bytes >> 20} MiB"]
    for a in scheduled:
        measured = [run[(bytes, a)] for run in runs]
        predicted = [simulate(path, a, 4, bytes) for path in descriptors]
        ratios = [p / m for p, m in zip(predicted, measured)]
        ratio = statistics.median(ratios)
        worst[a] = max(worst.get(a, 0), abs(ratio - 1))
        of_medians = statistics.median(predicted) / statistics.median(measured)
        worst_of_medians[a] = max(worst_of_medians.get(a, 0), abs(of_medians - 1))
        cells += [f"{statistics.median(measured) * 1e6:.0f}", f"{statistics.median(predicted) * 1e6:.0f}",
                  f"{ratio:.2f} ({min(ratios):.2f}–{max(ratios):.2f})"]
    cells += [f"{statistics.median(run[(bytes, 'mpi')] for run in runs) * 1e6:.0f}"]
    print("| " + " | ".join(cells) + " |")
print("\n# largest |pred/meas - 1| over the sizes, as the median of the repeats' ratios: "
      + ", ".join(f"{a} {worst[a] * 100:.0f} %" for a in scheduled))
print("# and as the median prediction over the median measurement: "
      + ", ".join(f"{a} {worst_of_medians[a] * 100:.0f} %" for a in scheduled))
PY
