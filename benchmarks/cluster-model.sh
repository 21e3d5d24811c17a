#!/usr/bin/env bash
# Does the simulator predict a (small, emulated) cluster? 2 network-namespace hosts x 2 ranks
# (../shared/tools/netns-hosts: TCP over a kernel bridge between hosts, shared memory inside).
# 1. Calibrate: two 2-rank ring allreduce runs the comparison never uses — 1 rank per host
#    (the host link) and 2 ranks on one host (memory) — at 8 B (latency) and 16 MiB
#    (bandwidth) give a descriptor: h1, h2 on one switch, ranks_per_endpoint = 2.
# 2. Measure: weft bench allreduce two-level, ring, rabenseifner, mpi on 2+2 ranks, 1-16 MiB,
#    REPEATS runs of ITERS iterations; each cell is the median over runs of the runs' medians.
# 3. Predict the same schedules with `weft topo simulate` on the calibrated descriptor and
#    print both side by side (predicted / measured; the target is within 25 %).
#
#   benchmarks/cluster-model.sh [OUT_DIR] [ITERS=10] [REPEATS=3]   (root, iproute2, release build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-benchmarks/results/cluster-model}"
iters="${2:-10}"
repeats="${3:-3}"
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
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD); $repeats runs x $iters iterations"

bench() {  # HOSTS NP OUTFILE ARGS…
    local hosts=$1 np=$2 file=$3
    shift 3
    timeout 600 "$netns" mpirun --host "$hosts" -np "$np" "$weft" bench allreduce --warmup 2 --format csv \
        --timeout 120 "$@" >"$file" 2>"$file.err" || { echo "cluster-model.sh: mpirun failed, see $file.err" >&2; exit 1; }
}
bench 10.77.0.2:1,10.77.0.3:1 2 "$out/calibrate-link.csv" --algorithm ring --min-bytes 8 --max-bytes 16M --iters 20
bench 10.77.0.2:2 2 "$out/calibrate-memory.csv" --algorithm ring --min-bytes 8 --max-bytes 16M --iters 20
for r in $(seq 1 "$repeats"); do
    bench 10.77.0.2:2,10.77.0.3:2 4 "$out/measured-$r.csv" --algorithm two-level,ring,rabenseifner,mpi \
        --min-bytes 1M --max-bytes 16M --iters "$iters"
done

python3 - "$weft" "$out" "$repeats" <<'PY'
import json, statistics, subprocess, sys
weft, out, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
M, overhead = 16 << 20, 0.5e-6   # calibration size; the simulator's per-step overhead

def rows(path):
    table = {}
    for line in open(path):
        if line[:1].isdigit():
            b, _, algorithm, t = line.split(",")[:4]
            table[(int(b), algorithm)] = float(t) * 1e-6
    return table

# The simulator's 2-rank ring: 2 steps, each latency + M/2 over the flow's share + overhead.
# Across hosts a flow crosses 2 host links (latency twice) and has its link to itself; on one
# host both ranks' copies share the memory channel (each gets half).
link, memory = rows(f"{out}/calibrate-link.csv"), rows(f"{out}/calibrate-memory.csv")
link_latency = max(link[(8, "ring")] / 2 - overhead, 0) / 2
link_bandwidth = M / (link[(M, "ring")] - 2 * (2 * link_latency + overhead))
memory_latency = max(memory[(8, "ring")] / 2 - overhead, 0)
memory_bandwidth = 2 * M / (memory[(M, "ring")] - 2 * (memory_latency + overhead))

def descriptor(per_endpoint):
    return f"""# Calibrated by benchmarks/cluster-model.sh (see topologies/emulated-2hosts.toml).
kind = "custom"
name = "2 emulated hosts x {per_endpoint} ranks (netns, kernel bridge)"
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
ranks_per_endpoint = {per_endpoint}
"""
for k in (1, 2):
    open(f"{out}/emulated-2hosts-{k}.toml", "w").write(descriptor(k))

def simulate(k, algorithm, ranks, bytes):
    result = subprocess.run([weft, "topo", "simulate", f"{out}/emulated-2hosts-{k}.toml", "--algorithm", algorithm,
                             "--ranks", str(ranks), "--bytes", str(bytes), "--json"],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["time_us"] * 1e-6

print(f"# calibrated: host link {link_bandwidth / 1e9:.3f} GB/s, {link_latency * 1e6:.2f} us per link; "
      f"memory {memory_bandwidth / 1e9:.3f} GB/s per host, {memory_latency * 1e6:.2f} us")
print(f"# calibration replayed: 2-rank ring at 16 MiB, 1 per host {simulate(1, 'ring', 2, M) * 1e6:.0f} us "
      f"(measured {link[(M, 'ring')] * 1e6:.0f}), 2 on one host {simulate(2, 'ring', 2, M) * 1e6:.0f} us "
      f"(measured {memory[(M, 'ring')] * 1e6:.0f})")

runs = [rows(f"{out}/measured-{r}.csv") for r in range(1, repeats + 1)]
scheduled = ["two-level", "ring", "rabenseifner"]
header = "| bytes | " + " | ".join(f"{a} measured µs | predicted µs | pred/meas" for a in scheduled) \
    + " | two-level runs min–max µs | mpi measured µs |"
print("\n## allreduce, 2 emulated hosts x 2 ranks: measured (median of runs) vs simulated\n")
print(header)
print("|" + "---:|" * (header.count("|") - 1))
for bytes in sorted({b for b, _ in runs[0]}):
    cells = [f"{bytes >> 20} MiB"]
    for a in scheduled:
        measured = statistics.median(r[(bytes, a)] for r in runs)
        predicted = simulate(2, a, 4, bytes)
        cells += [f"{measured * 1e6:.0f}", f"{predicted * 1e6:.0f}", f"{predicted / measured:.2f}"]
    spread = [r[(bytes, "two-level")] * 1e6 for r in runs]
    cells += [f"{min(spread):.0f}–{max(spread):.0f}", f"{statistics.median(r[(bytes, 'mpi')] for r in runs) * 1e6:.0f}"]
    print("| " + " | ".join(cells) + " |")
PY
