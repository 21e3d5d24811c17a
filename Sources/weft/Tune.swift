import ArgumentParser
import Foundation
import Weft
import WeftNN
import WeftTopology
import WeftTrain

/// `weft tune`: measures every algorithm for every collective on this job's ranks, across
/// sizes, on registered and on ordinary buffers, and writes the winners as a tuning file
/// (the format `weft topo plan -o` writes, with the measured times) that `auto` follows
/// through `--tuning` or `WEFT_TUNING` — in `weft` and in libweft-mpi.so.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure every algorithm on this job's ranks and write the tuning file auto follows.")

    @Option(help: "Comma-separated collectives (default: all but barrier).")
    var collectives = "allreduce,reduce-scatter,allgather,broadcast,reduce,alltoall"

    @Option(parsing: .unconditional, help: "Smallest message (bytes; K/M/G suffixes).")
    var minBytes = ByteCount(bytes: 8)

    @Option(parsing: .unconditional, help: "Largest message; sizes double from --min-bytes.")
    var maxBytes = ByteCount(bytes: 16 << 20)

    @Option(parsing: .unconditional, help: "Timed iterations per size, algorithm and round (a median each; the tuner's choice is only as steady as it).")
    var iters = 40

    @Option(parsing: .unconditional, help: "Rounds per size: every algorithm timed once per round, interleaved; the median over rounds decides.")
    var rounds = 3

    @Option(parsing: .unconditional, help: "Untimed iterations before timing.")
    var warmup = 5

    @Option(help: "Buffers to tune for: registered, ordinary or both (comma-separated).")
    var buffers = "registered,ordinary"

    @Option(help: "Topology descriptor (default: WEFT_TOPOLOGY): its topology-aware algorithms are measured too.")
    var topology: String?

    @Option(parsing: .unconditional, help: "Seconds any rank may wait for a peer before the run fails.")
    var timeout = 60.0

    @Option(name: [.short, .customLong("output")], help: "The tuning file to write.")
    var output: String

    func run() throws {
        let chosen = try parse()
        if !(1...Bench.maxIterations).contains(iters) { failEverywhere("--iters must be 1…\(Bench.maxIterations), got \(iters)") }
        if !(0...Bench.maxIterations).contains(warmup) { failEverywhere("--warmup must be 0…\(Bench.maxIterations), got \(warmup)") }
        if !(1...1000).contains(rounds) { failEverywhere("--rounds must be 1…1000, got \(rounds)") }
        if minBytes.bytes > maxBytes.bytes { failEverywhere("--min-bytes \(minBytes) is larger than --max-bytes \(maxBytes)") }
        // Tuning times f32 messages; a size below one element would be timed as the empty one.
        if (1..<4).contains(minBytes.bytes) {
            failEverywhere("--min-bytes \(minBytes) is smaller than one f32 element (4 bytes); use 0 for an empty message or at least 4")
        }
        for collective in chosen.collectives {
            Bench.checkMemory(maxBytes: maxBytes, collective, unregistered: chosen.buffers.contains(.ordinary), check: false)
        }
        checkOutputPath(output, option: "-o", .file)
        let communicator = startWorld(timeout: timeout, topology: topology, tuning: nil)
        var rules: [Plan.Rule] = []
        for collective in chosen.collectives {
            for kind in chosen.buffers {
                var arguments = [collective.rawValue, "--algorithm", "all", "--min-bytes", "\(minBytes.bytes)",
                                 "--max-bytes", "\(maxBytes.bytes)", "--warmup", "\(warmup)", "--timeout", "\(timeout)"]
                arguments += ["--iters", "\(iters)", "--rounds", "\(rounds)"]
                if kind == .ordinary { arguments.append("--unregistered") }
                let bench = try Bench.parse(arguments)
                let request = Bench.Request(collective: collective, algorithms: algorithms(for: collective, communicator),
                                            explicit: false, type: .f32, op: .sum, format: "table")
                let timings: [(bytes: Int, algorithm: Algorithm, seconds: Double)]
                do {
                    timings = try BenchRunner<Float>(bench, request, communicator).timings(request.algorithms)
                } catch {
                    printError("rank \(communicator.rank): tuning \(collective.rawValue) failed: \(error)")
                    Runtime.abort(code: 1)
                }
                rules += Tune.rules(collective, kind, timings)
                if communicator.rank == 0 {
                    FileHandle.standardError.write(Data("weft tune: \(collective.rawValue) (\(kind.rawValue) buffers) done\n".utf8))
                }
            }
        }
        if communicator.rank == 0 {
            let plan = Plan(ranks: communicator.size, source: ProcessInfo.processInfo.hostName, rules: rules)
            do {
                try writeAtomically(Data(plan.toml.utf8), to: output)
            } catch {
                printError("\(error)")
                Runtime.abort(code: 1)
            }
            print("weft tune: \(rules.count) rules for \(communicator.size) ranks written to \(output)")
        }
        Runtime.finalize()
    }

    /// Every concrete algorithm serving the collective that can run here (direct only on
    /// one node; topology-aware ones only when the descriptor's network suits them).
    private func algorithms(for collective: Collective, _ communicator: Communicator) -> [Algorithm] {
        let candidates = Algorithm.concrete + (communicator.network != nil ? Algorithm.topologyAware : [])
        return candidates.filter { algorithm in
            guard Schedules.collectives(servedBy: algorithm).contains(collective) else { return false }
            if algorithm == .direct { return communicator.isNodeLocal }
            if algorithm.needsTopology, let network = communicator.network {
                return (try? Schedules.make(collective, algorithm: algorithm, ranks: network.placement.count, network: network.network,
                                                    placement: network.placement)) != nil
            }
            return true
        }
    }

    /// The fastest algorithm at each measured size, as rules: each size's winner holds from
    /// that size up to the next measured one (the first from 0, the last to infinity), and
    /// neighbouring sizes with the same winner merge.
    static func rules(_ collective: Collective, _ kind: Plan.BufferKind,
                      _ timings: [(bytes: Int, algorithm: Algorithm, seconds: Double)]) -> [Plan.Rule] {
        let sizes = Array(Set(timings.map(\.bytes))).sorted()
        var rules: [Plan.Rule] = []
        for (i, bytes) in sizes.enumerated() {
            guard let best = timings.filter({ $0.bytes == bytes }).min(by: { $0.seconds < $1.seconds }) else { continue }
            let low = i == 0 ? 0 : bytes, high = i + 1 < sizes.count ? sizes[i + 1] : Int.max
            if let last = rules.last, last.algorithm == best.algorithm {
                rules[rules.count - 1].maxBytes = high
            } else {
                rules.append(Plan.Rule(collective: collective, minBytes: low, maxBytes: high, algorithm: best.algorithm,
                                       predictedMicroseconds: 0, buffers: kind,
                                       measuredMicroseconds: best.seconds * 1e6))
            }
        }
        return rules
    }

    private func parse() throws -> (collectives: [Collective], buffers: [Plan.BufferKind]) {
        var list: [Collective] = []
        for name in collectives.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            guard let c = Collective(rawValue: name) else {
                failEverywhere("unknown collective '\(name)' in --collectives (choose from "
                    + Collective.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            if !list.contains(c) { list.append(c) }
        }
        var kinds: [Plan.BufferKind] = []
        for name in buffers.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            guard let kind = Plan.BufferKind(rawValue: name) else {
                failEverywhere("unknown --buffers '\(name)' (choose from registered, ordinary)")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        if list.isEmpty || kinds.isEmpty { failEverywhere("--collectives and --buffers must name at least one each") }
        return (list, kinds)
    }
}
