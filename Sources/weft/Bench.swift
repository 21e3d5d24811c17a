import ArgumentParser
import Foundation
import Weft
import WeftTopology

/// `weft bench`: the collective micro-benchmark, nccl-tests style, with Open MPI's own
/// collective (`mpi`) measured beside every Weft algorithm in the same run.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time collectives across message sizes, every algorithm beside native MPI.",
        discussion: """
            Collectives: \(Collective.allCases.map(\.rawValue).joined(separator: ", ")).
            Columns: bytes count algorithm time_us algbw_GBps busbw_GBps wrong. time_us is the median over \
            iterations of the slowest rank's time (with --rounds, the median over rounds of that); busbw uses \
            nccl-tests' factors (2(n-1)/n for allreduce).
            """
    )

    @Argument(help: "The collective to time.")
    var collective: String

    @Option(help: "Comma-separated algorithms, or all, auto, mpi.")
    var algorithm = "all"

    @Option(parsing: .unconditional, help: "Smallest message (bytes; K/M/G suffixes).")
    var minBytes = ByteCount(bytes: 8)

    @Option(parsing: .unconditional, help: "Largest message; sizes double from --min-bytes.")
    var maxBytes = ByteCount(bytes: 64 << 20)

    @Option(parsing: .unconditional, help: "Timed iterations per size and algorithm (default: 200 up to 64 KiB, 20 above, as OSU does).")
    var iters: Int?

    @Option(parsing: .unconditional, help: "Untimed iterations before timing.")
    var warmup = 5

    @Option(parsing: .unconditional, help: "Rounds: each size times every algorithm once per round, round after round, and reports the median over rounds — so drift on a busy machine falls on all algorithms alike.")
    var rounds = 1

    @Option(help: "Element type: f32, f64, i32, i64.")
    var dtype = "f32"

    @Option(help: "Reduction: sum, prod, max, min, avg.")
    var op = "sum"

    @Option(parsing: .unconditional, help: "Root rank of broadcast and reduce.")
    var root = 0

    @Flag(help: "Compare every result with native MPI's (integers bitwise, floats within 1e-5 / 1e-12 relative).")
    var check = false

    @Flag(help: "Use ordinary memory instead of registered shared windows (direct then stages through one).")
    var unregistered = false

    @Option(help: "Output: table, csv or json (one object per row).")
    var format = "table"

    @Option(parsing: .unconditional, help: "Seconds any rank may wait for a peer before the run fails.")
    var timeout = 60.0

    @Option(help: "Topology descriptor (default: WEFT_TOPOLOGY): adds the topology-aware algorithms; auto follows its plan.")
    var topology: String?

    @Option(help: "Tuning file of rules (as `weft topo plan -o` writes; default: WEFT_TUNING): auto follows it first.")
    var tuning: String?

    @Flag(help: "Run on the emulated fabric of --topology: every step held for its simulated time × --slowdown; times are reported divided by --slowdown.")
    var emulate = false

    @Option(name: .customLong("slowdown"), parsing: .unconditional, help: "With --emulate: how much slower than the descriptor the emulated network runs (so host copies hide in the holds); 1…\(Bench.maxSlowdown), default 100.")
    var slowdownOption: Double?

    /// Optional so that a --slowdown without --emulate, which would do nothing, is refused.
    var slowdown: Double { slowdownOption ?? 100 }

    /// Beyond this a microsecond step is held for over a second per step: a typo, not a setting.
    static let maxSlowdown = 1_000_000
    /// Most iterations (timed or warm-up) per size: 10^7 of the fastest collective already
    /// take minutes, so more is a typo that would run for days.
    static let maxIterations = 10_000_000

    func run() throws {
        let request = try parseRequest()
        let communicator = startWorld(timeout: timeout, topology: topology, tuning: tuning)
        if emulate {
            guard let network = communicator.network else {
                failEverywhere("--emulate needs a topology: pass --topology FILE or set WEFT_TOPOLOGY")
            }
            communicator.fabric = EmulatedFabric(context: network, slowdown: slowdown)
        }
        if communicator.network == nil, let needy = request.algorithms.first(where: \.needsTopology) {
            failEverywhere("--algorithm \(needy.rawValue) needs a topology descriptor: give --topology FILE or WEFT_TOPOLOGY")
        }
        if request.collective.isRooted && (root < 0 || root >= communicator.size) {
            failEverywhere("--root \(root) is not a rank of this \(communicator.size)-rank job (use 0…\(communicator.size - 1))")
        }
        switch request.type {
        case .f32: try BenchRunner<Float>(self, request, communicator).run()
        case .f64: try BenchRunner<Double>(self, request, communicator).run()
        case .i32: try BenchRunner<Int32>(self, request, communicator).run()
        case .i64: try BenchRunner<Int64>(self, request, communicator).run()
        }
        Runtime.finalize()
    }

    /// Timed iterations for a message: small ones are noisy, so they get more.
    func iterations(bytes: Int) -> Int { iters ?? (bytes <= 64 << 10 ? 200 : 20) }

    struct Request {
        var collective: Collective
        var algorithms: [Algorithm]
        var explicit: Bool
        var type: DataType
        var op: ReduceOp
        var format: String
    }

    /// Ends the job with one line when `maxBytes` cannot fit this machine's memory: buffers
    /// are allocated once at the largest size — twice for alltoall, three times on ordinary
    /// memory (staging copies), and `--check` adds the result and the expected one. Half the
    /// memory per rank is the limit, so the machine does not swap or kill a rank mid-run.
    static func checkMemory(maxBytes: ByteCount, _ collective: Collective, unregistered: Bool, check: Bool) {
        let copies = (collective == .alltoall ? 2 : 1) * (unregistered ? 3 : 1) + (check ? 2 : 0)
        let ranksHere = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        let available = Int(min(ProcessInfo.processInfo.physicalMemory, UInt64(Int.max))) / max(1, ranksHere)
        let limit = (available / (2 * copies)) & ~((1 << 20) - 1)  // whole MiB: a value to pass back
        if maxBytes.bytes > limit {
            failEverywhere("--max-bytes \(maxBytes) needs \(copies)× that per rank for \(collective.rawValue)"
                + (check ? " with --check" : "") + "; this machine has \(ByteCount(bytes: available & ~((1 << 20) - 1))) per rank (limit: \(ByteCount(bytes: limit)))")
        }
    }

    /// Validates the arguments before MPI starts, so a typo costs one line, not a job.
    private func parseRequest() throws -> Request {
        guard let collective = Collective(rawValue: collective) else {
            failEverywhere("unknown collective '\(self.collective)' (choose from "
                + Collective.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        var algorithms: [Algorithm] = []
        var explicit = true
        // NaN compares false with every bound, so the range check must be written as "inside".
        if slowdownOption != nil && !emulate {
            failEverywhere("--slowdown goes with --emulate (it slows the emulated fabric); add --emulate or drop --slowdown")
        }
        if emulate && !(slowdown >= 1 && slowdown <= Double(Bench.maxSlowdown)) {
            failEverywhere("--slowdown must be a number 1…\(Bench.maxSlowdown), got \(slowdown)")
        }
        for name in algorithm.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if name == "all" {
                explicit = false
                // Topology-aware ones join when a topology is given (kept if the network's
                // kind suits them); the emulated fabric runs only message-passing schedules.
                let topologyGiven = topology != nil || !(ProcessInfo.processInfo.environment["WEFT_TOPOLOGY"] ?? "").isEmpty
                algorithms += (Algorithm.concrete + (topologyGiven ? Algorithm.topologyAware : [])).filter {
                    Schedules.collectives(servedBy: $0).contains(collective) && !(emulate && ($0 == .mpi || $0 == .direct))
                }
            } else if let a = Algorithm(rawValue: name) {
                guard Schedules.collectives(servedBy: a).contains(collective) else {
                    let served = Schedules.collectives(servedBy: a).map(\.rawValue).joined(separator: ", ")
                    failEverywhere("algorithm '\(name)' cannot run \(collective.rawValue); it serves: \(served)")
                }
                if emulate && (a == .mpi || a == .direct) {
                    failEverywhere("algorithm '\(name)' cannot run on the emulated fabric (it holds Weft's message-passing schedules); drop it or --emulate")
                }
                algorithms.append(a)
            } else {
                failEverywhere("unknown algorithm '\(name)' (choose from "
                    + Algorithm.allCases.map(\.rawValue).joined(separator: ", ") + ", all)")
            }
        }
        if algorithms.isEmpty { failEverywhere("--algorithm names no algorithm") }
        var unique: [Algorithm] = []
        for a in algorithms where !unique.contains(a) { unique.append(a) }
        guard let type = DataType(rawValue: dtype) else {
            failEverywhere("unknown --dtype '\(dtype)' (choose from f32, f64, i32, i64)")
        }
        guard let op = ReduceOp(rawValue: op) else {
            failEverywhere("unknown --op '\(self.op)' (choose from sum, prod, max, min, avg)")
        }
        guard ["table", "csv", "json"].contains(format) else {
            failEverywhere("unknown --format '\(format)' (choose from table, csv, json)")
        }
        if minBytes.bytes > maxBytes.bytes {
            failEverywhere("--min-bytes \(minBytes) is larger than --max-bytes \(maxBytes)")
        }
        // Sizes round down to whole elements; below one element that would silently be the
        // empty message, which only --min-bytes 0 asks for.
        if (1..<type.size).contains(minBytes.bytes) {
            failEverywhere("--min-bytes \(minBytes) is smaller than one \(type.rawValue) element (\(type.size) bytes); use 0 for an empty message or at least \(type.size)")
        }
        if let iters, !(1...Bench.maxIterations).contains(iters) {
            failEverywhere("--iters must be 1…\(Bench.maxIterations), got \(iters)")
        }
        Self.checkMemory(maxBytes: maxBytes, collective, unregistered: unregistered, check: check)
        if !(0...Bench.maxIterations).contains(warmup) {
            failEverywhere("--warmup must be 0…\(Bench.maxIterations), got \(warmup)")
        }
        if !(1...1000).contains(rounds) { failEverywhere("--rounds must be 1…1000, got \(rounds)") }
        return Request(collective: collective, algorithms: unique, explicit: explicit, type: type, op: op,
                       format: format)
    }
}
