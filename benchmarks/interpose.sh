#!/usr/bin/env bash
# Native Open MPI against Weft's LD_PRELOAD interposition library (libweft-mpi.so), in one
# run, with the third-party style benchmark benchmarks/osu_collective.c: the same binary,
# once plain and once with LD_PRELOAD, for allreduce, bcast, allgather, reduce,
# reduce_scatter_block and alltoall at 2 ranks and 4 ranks (oversubscribed on a 2-core
# machine), 8 B to 64 MiB (allreduce) or 16 MiB (the others). Native and interposed runs
# alternate (N W, W N, N W) over 3 repetitions to spread machine noise; every run checks its
# results (--check). Prints one table per collective and rank count:
#   bytes  native_us  weft_us  speedup      (medians over the repetitions; speedup = native / weft)
# Byte sizes follow OSU (see osu_collective.c): the message for allreduce, reduce, bcast;
# the per-rank block for allgather and alltoall; the whole input vector for
# reduce_scatter_block.
#
#   benchmarks/interpose.sh [OUT_DIR] [quick|paired]      (or: benchmarks/interpose.sh quick)
# OUT_DIR (default benchmarks/results/interpose) receives the binary, raw outputs
# (raw/COLL-npN-{native,weft}-rR.txt, .err), the library's reports
# (report-COLL-npN-rR.json via WEFT_REPORT) and tables.txt. `quick`: allreduce only,
# 2 ranks, 1 repetition. Takes about 5 minutes on an idle 2-core machine (quick: 15 s)
# when the library is about as fast as native MPI.
# `paired`: the A/B inside one process instead (osu_collective --paired, 2 ranks, 8 B to
# 16 MiB): every size alternates rounds of MPI_ calls (the library) with PMPI_ calls (Open
# MPI itself) on the same buffers, so machine drift hits both sides alike; first an A/A run
# without the library shows the method's own spread. Tables: bytes native_us weft_us
# speedup (medians over rounds; speedup = median of the rounds' native/weft). About 3 minutes.
#
# Noise: whole runs on a small VM are often 10-25% faster or slower than others (an A/A run
# with WEFT_LIB=none showed that), so each table ends with the spread of its repetitions;
# a speedup inside that spread is not a result. Runs during which other processes used the
# CPUs are flagged (raw files carry "# other load: N%").
#
# Environment:
#   WEFT_*        every WEFT_ setting of the caller (WEFT_ALGO, WEFT_TUNING, ...) is passed
#                 on to the interposed runs with -x.
#   WEFT_LIB      the library to preload (default .build/release/libweft-mpi.so).
#                 Testing aid: WEFT_LIB=none skips the preload, so the "weft" runs are
#                 native too (checks the script itself; speedups should sit near 1.00).
#   ITERS, WARMUP calls per size up to 64 KiB (default 1000, 100; scaled down above).
#   REPS          repetitions of each native / interposed pair (default 3; quick 1).
#   RUN_TIMEOUT   seconds before one mpirun is killed (default 600).
# Exit status: 0; 1 if a run failed (wrong result, crash, timeout; its cells show "-"
# when no repetition survived); 2 if the library is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

out="${1:-benchmarks/results/interpose}"
mode="${2:-full}"
if [ "$#" -eq 1 ] && [ "$1" = quick ]; then out=benchmarks/results/interpose; mode=quick; fi
case "$mode" in full|quick|paired) ;; *) echo "interpose.sh: unknown mode '$mode' (expected quick or paired)" >&2; exit 2 ;; esac

lib="${WEFT_LIB:-$root/.build/release/libweft-mpi.so}"
if [ "$lib" != "none" ]; then
    [[ "$lib" = /* ]] || lib="$root/$lib"
    if [ ! -f "$lib" ]; then
        echo "interpose.sh: $lib not found; build it first: swift build -c release" >&2
        exit 2
    fi
fi

mkdir -p "$out/raw"
out="$(cd "$out" && pwd)"
# Outputs of an earlier run in the same folder would mix into the medians.
rm -f "$out"/raw/*-native-r*.txt "$out"/raw/*-weft-r*.txt "$out"/raw/*.err "$out"/report-*.json
bin="$out/osu_collective"
mpicc -O2 -o "$bin" benchmarks/osu_collective.c -lm

iters="${ITERS:-1000}"
warmup="${WARMUP:-100}"
run_timeout="${RUN_TIMEOUT:-600}"
if [ "$mode" = quick ]; then
    collectives=(allreduce); rank_counts=(2); reps="${REPS:-1}"
else
    collectives=(allreduce bcast allgather reduce reduce_scatter_block alltoall); rank_counts=(2 4); reps="${REPS:-3}"
fi

export OPENBLAS_NUM_THREADS=1
base=(mpirun -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" -eq 0 ] && base+=(--allow-run-as-root)
passthrough=()
for name in $(compgen -e | grep '^WEFT_' | grep -vx 'WEFT_LIB\|WEFT_REPORT' || true); do
    passthrough+=(-x "$name")
done

# Other work on the machine (a build, another benchmark) swamps the differences measured
# here: sample one second of /proc/stat and warn when the CPUs are not idle.
busy_percent() {
    local a b total=0 k
    read -ra a < /proc/stat; sleep 1; read -ra b < /proc/stat
    for k in 1 2 3 4 5 6 7 8; do total=$((total + b[k] - a[k])); done
    echo $(( total > 0 ? 100 * (total - (b[4] - a[4]) - (b[5] - a[5])) / total : 0 ))
}
busy="$(busy_percent)"
if [ "$busy" -gt 10 ]; then
    echo "interpose.sh: warning: the CPUs are ${busy}% busy before starting; other load makes these numbers unreliable" >&2
fi

{
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(mpirun --version | head -1)"
    echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ "$lib" = none ]; then
        echo "# library: none (WEFT_LIB=none: the weft columns are native runs too)"
    else
        echo "# library: $lib (sha256 $(sha256sum "$lib" | cut -c1-12), $(date -u -r "$lib" +%Y-%m-%dT%H:%MZ))"
    fi
    if [ "$mode" = paired ]; then runs="paired, ${ROUNDS:-21} rounds per size"; else runs="$reps repetition(s)"; fi
    echo "# settings: ${passthrough[*]:-(no WEFT_* settings)}; iters $iters, warmup $warmup up to 64 KiB; $runs; CPUs ${busy}% busy at start"
} | tee "$out/tables.txt"

failed=0
hz="$(getconf CLK_TCK)"
# CPU seconds of all finished children of this shell: bash's `times`, second line. `times`
# must run in this shell, not in a $(...) subshell, whose children's times start at zero.
children_cpu() {
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$out/raw/.times"
}
# run NAME CMD...: runs CMD into raw/NAME.txt (stderr raw/NAME.err) and appends the share
# of the CPUs that other processes used meanwhile (all busy time in /proc/stat minus this
# run's own CPU time), so the tables can flag disturbed runs.
run() {
    local name="$1"; shift
    local cmd=("$@") a b c0 c1 t0 t1
    echo "# cmd: ${cmd[*]}" > "$out/raw/$name.txt"
    read -ra a < /proc/stat; times > "$out/raw/.times"; c0="$(children_cpu)"; t0="$EPOCHREALTIME"
    if ! timeout -k 10 "$run_timeout" "${cmd[@]}" >> "$out/raw/$name.txt" 2> "$out/raw/$name.err"; then
        echo "interpose.sh: run $name failed (see $out/raw/$name.err):" >&2
        grep -m3 -i 'CHECK FAILED\|error\|signal' "$out/raw/$name.err" >&2 || tail -3 "$out/raw/$name.err" >&2
        failed=1
    fi
    t1="$EPOCHREALTIME"; times > "$out/raw/.times"; c1="$(children_cpu)"; read -ra b < /proc/stat
    awk -v busy="$(( (b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8]) ))" \
        -v hz="$hz" -v own="$(awk -v x="$c0" -v y="$c1" 'BEGIN { print y - x }')" \
        -v wall="$(awk -v x="$t0" -v y="$t1" 'BEGIN { print y - x }')" -v cores="$(nproc)" \
        'BEGIN { o = (busy / hz - own) / (wall * cores) * 100; if (o < 0) o = 0
                 printf "# other load: %.0f%% of the CPUs over %.1f s\n", o, wall }' >> "$out/raw/$name.txt"
}

start=$SECONDS
if [ "$mode" = paired ]; then
    [ "$lib" != none ] || { echo "interpose.sh: paired needs the library (WEFT_LIB=none is the A/A run it makes anyway)" >&2; exit 2; }
    rounds="${ROUNDS:-21}"
    paired_args=(--min-bytes 8 --max-bytes 16M --iters "$iters" --warmup "$warmup" --paired "$rounds" --check)
    run "allreduce-aa" "${base[@]}" -np 2 "$bin" allreduce "${paired_args[@]}"
    for coll in allreduce reduce reduce_scatter_block bcast allgather; do
        run "$coll-paired" "${base[@]}" -np 2 -x "LD_PRELOAD=$lib" -x "WEFT_REPORT=$out/report-$coll-paired.json" \
            "${passthrough[@]}" "$bin" "$coll" "${paired_args[@]}"
        echo "# done $coll ($((SECONDS - start)) s)" >&2
    done
    for name in allreduce-aa allreduce-paired reduce-paired reduce_scatter_block-paired bcast-paired allgather-paired; do
        case "$name" in
            *-aa) title="allreduce, A/A: both sides native (the method's own spread)" ;;
            *) title="${name%-paired}, 2 ranks: weft (MPI_, preloaded) against native (PMPI_) in one process" ;;
        esac
        { echo; echo "## $title"; grep -v '^# cmd:' "$out/raw/$name.txt" | grep -v '^# osu_collective' | grep -v '^# paired'; } \
            | tee -a "$out/tables.txt"
        grep -q "CHECK FAILED" "$out/raw/$name.txt" && failed=1
    done
    echo "# total $((SECONDS - start)) s; raw outputs in $out/raw" >&2
    rm -f "$out/raw/.times"
    exit "$failed"
fi
for np in "${rank_counts[@]}"; do
    flags=(-np "$np")
    if [ "$np" -gt "$(nproc)" ]; then flags+=(--oversubscribe --mca mpi_yield_when_idle 1); fi
    for coll in "${collectives[@]}"; do
        max=16M; [ "$coll" = allreduce ] && max=64M
        args=("$bin" "$coll" --min-bytes 8 --max-bytes "$max" --iters "$iters" --warmup "$warmup" --check)
        for ((r = 1; r <= reps; r++)); do
            tag="$coll-np$np"
            native=(run "$tag-native-r$r" "${base[@]}" "${flags[@]}" "${args[@]}")
            if [ "$lib" = none ]; then
                weft=(run "$tag-weft-r$r" "${base[@]}" "${flags[@]}" "${args[@]}")
            else
                weft=(run "$tag-weft-r$r" "${base[@]}" "${flags[@]}" -x "LD_PRELOAD=$lib"
                      -x "WEFT_REPORT=$out/report-$tag-r$r.json" "${passthrough[@]}" "${args[@]}")
            fi
            # Alternate the order too: N W, W N, N W.
            if ((r % 2)); then "${native[@]}"; "${weft[@]}"; else "${weft[@]}"; "${native[@]}"; fi
        done
        echo "# done $coll, $np ranks ($((SECONDS - start)) s)" >&2
    done
done

python3 - "$out/raw" "$(nproc)" "${#collectives[@]}" "${collectives[@]}" "${rank_counts[@]}" <<'PY' | tee -a "$out/tables.txt"
import glob, os, re, statistics, sys
raw, cores, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
collectives, rank_counts = sys.argv[4:4 + n], [int(x) for x in sys.argv[4 + n:]]
data = {}  # (coll, np, mode) -> {bytes: [avg_us per repetition]}
load = {}  # (coll, np) -> largest share of the CPUs other processes used during one run
wrong = {}  # (coll, np) -> runs whose --check failed, and where
for path in glob.glob(os.path.join(raw, "*.txt")):
    m = re.fullmatch(r"(.+)-np(\d+)-(native|weft)-r\d+\.txt", os.path.basename(path))
    if not m:
        continue
    rows = data.setdefault((m[1], int(m[2]), m[3]), {})
    for line in open(path):
        if line.startswith("# other load:"):
            key = (m[1], int(m[2]))
            load[key] = max(load.get(key, 0), int(line.split()[3].rstrip("%")))
        f = line.split()
        if len(f) >= 4 and f[0].isdigit():
            if "FAILED" in line:
                wrong.setdefault((m[1], int(m[2])), []).append(f"{os.path.basename(path)[:-4]} at {f[0]} bytes")
            else:
                rows.setdefault(int(f[0]), []).append(float(f[1]))
for np in rank_counts:
    for coll in collectives:
        nat, wft = data.get((coll, np, "native"), {}), data.get((coll, np, "weft"), {})
        note = ", oversubscribed" if np > cores else ""
        unit = {"allgather": "per-rank block", "alltoall": "per-peer block",
                "reduce_scatter_block": "whole input vector"}.get(coll, "message")
        print(f"\n## {coll}, {np} ranks{note} (bytes = {unit}; medians of avg latency per call)")
        for w in sorted(wrong.get((coll, np), [])):
            print(f"# WRONG RESULT: {w} (that run stopped there)")
        if load.get((coll, np), 0) > 10:
            print(f"# warning: other processes used up to {load[(coll, np)]}% of the CPUs during these runs; rerun on an idle machine")
        print(f"{'bytes':>10} {'native_us':>12} {'weft_us':>12} {'speedup':>8}")
        for b in sorted(set(nat) | set(wft)):
            a = statistics.median(nat[b]) if b in nat else None
            w = statistics.median(wft[b]) if b in wft else None
            s = f"{a / w:.2f}" if a and w else "-"
            fa = f"{a:.2f}" if a is not None else "-"
            fw = f"{w:.2f}" if w is not None else "-"
            print(f"{b:>10} {fa:>12} {fw:>12} {s:>8}")
        spread = lambda rows: statistics.median([max(v) / min(v) for v in rows.values() if len(v) > 1 and min(v) > 0] or [1])
        if any(len(v) > 1 for v in list(nat.values()) + list(wft.values())):
            print(f"# repetition spread (slowest / fastest run, median over sizes): "
                  f"native {spread(nat):.2f}x, weft {spread(wft):.2f}x")
PY
rm -f "$out/raw/.times"
echo "# total $((SECONDS - start)) s; raw outputs in $out/raw" >&2
if [ "$failed" -ne 0 ]; then
    echo "interpose.sh: some runs failed; their cells use the surviving repetitions (see above)" >&2
    exit 1
fi
