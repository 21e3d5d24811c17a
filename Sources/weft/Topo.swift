import ArgumentParser
import Foundation
import WeftNN
import WeftTopology
import WeftTrain

/// `weft topo`: topology descriptors — validate, measure, route, simulate, plan, place, generate.
struct Topo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with topology descriptors (topologies/*.toml, Slurm topology.conf).",
        subcommands: [Check.self, Show.self, Route.self, Simulate.self, PlanCommand.self, Rankfile.self, Generate.self]
    )

    /// Refuses a `--bytes` beyond what the simulator models (its offsets would overflow).
    static func checkSimulated(_ bytes: ByteCount) {
        if bytes.bytes > Simulator.maximumBytes {
            failEverywhere("--bytes \(bytes.bytes) exceeds \(ByteCount(bytes: Simulator.maximumBytes)) (2^50 bytes), "
                + "the largest message the simulator models; use a smaller size")
        }
    }

    /// The job size `--ranks` asks for (default: the network's capacity), refused beyond
    /// `limit` with one line: past it the command would run for many minutes.
    static func ranks(_ asked: Int?, _ n: Network, _ d: Descriptor, limit: Int, command: String, cost: String) -> Int {
        let ranks = asked ?? Placement.capacity(network: n, descriptor: d)
        if ranks > limit {
            failEverywhere("\(d.file): \(ranks) ranks exceed \(limit), the most \(command) handles in reasonable time (\(cost)); "
                + "pass --ranks \(limit) or fewer")
        }
        return ranks
    }

    /// Loads and builds a descriptor, turning any problem into one line and exit 2.
    static func open(_ path: String) -> (Descriptor, Network) {
        do {
            let descriptor = try Descriptor.load(path)
            return (descriptor, try descriptor.build())
        } catch {
            failEverywhere("\(error)")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a descriptor.")
        @Argument var file: String

        func run() {
            let (d, n) = Topo.open(file)
            print("\(file): ok — \(d.kind), \(n.endpoints) endpoints, \(n.switches) switches, \(n.links.count) links")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a network's metrics.")
        @Argument var file: String
        @Flag var json = false

        func run() {
            let (d, n) = Topo.open(file)
            let m = NetworkMetrics(n, descriptor: d)
            if json {
                printJSONLine(m)
                return
            }
            let classes = m.links_by_class.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let rows: [(String, String)] = [
                ("kind", d.kind.rawValue), ("endpoints", "\(m.endpoints)"), ("switches", "\(m.switches)"),
                ("links", "\(m.links) (\(classes))"), ("radix", "\(m.radix)"),
                ("diameter_links", "\(m.diameter_links)"), ("average_links", String(format: "%.3f", m.average_links)),
                ("bisection_links", "\(m.bisection_links) (\(m.bisection_method))"),
                ("bisection_GBps", String(format: "%.1f", m.bisection_GBps)),
                ("links_per_endpoint", String(format: "%.3f", m.links_per_endpoint)), ("cost", String(format: "%.0f", m.cost)),
                ("routing", d.routing),
                ("placement", d.placement + (d.ranksPerEndpoint > 1 ? ", \(d.ranksPerEndpoint) ranks per endpoint" : "")),
            ]
            for (k, v) in rows { print(k.padding(toLength: 20, withPad: " ", startingAt: 0) + v) }
        }
    }

    struct Route: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the route between two endpoints.")
        @Argument var file: String
        @Option(help: "Source endpoint (name or index).") var from: String
        @Option(help: "Destination endpoint (name or index).") var to: String
        @Option(help: "minimal, valiant, ugal, dor, updown or dmodk (default: the descriptor's).") var routing: String?

        func run() {
            let (d, n) = Topo.open(file)
            func endpoint(_ text: String, _ flag: String) -> Int {
                if let i = Int(text), i >= 0, i < n.endpoints { return i }
                if let i = n.endpointNames.firstIndex(of: text) { return i }
                failEverywhere("--\(flag) '\(text)' is not an endpoint of \(file) (use a name like \(n.endpointNames[0]) or 0…\(n.endpoints - 1))")
            }
            let policy = routing == "updown" ? "minimal" : (routing ?? d.routing)
            guard ["minimal", "valiant", "ugal", "dor", "dmodk"].contains(policy) else {
                failEverywhere("unknown --routing '\(policy)' (choose from minimal, valiant, ugal, dor, updown, dmodk)")
            }
            let router = Router(network: n, policy: policy)
            let hops = router.describe(from: endpoint(from, "from"), to: endpoint(to, "to"))
            print(hops.joined(separator: " -> "))
            // Up/down routing is computed as shortest paths, which on a tree are up/down paths.
            print("\(hops.count - 1) links (\(routing == "updown" ? "updown" : policy))")
        }
    }

    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Predict a collective's time on the network.")
        @Argument var file: String
        @Option var collective = "allreduce"
        @Option var algorithm = "ring"
        @Option(parsing: .unconditional, help: "Message size (K/M/G/T suffixes; at most 1024T).") var bytes = ByteCount(bytes: 1 << 20)
        @Option(parsing: .unconditional, help: "Ranks (default: every endpoint × ranks_per_endpoint).") var ranks: Int?
        @Flag var json = false
        @Flag(help: "Also print every step's predicted time (distinct runs of equal steps merged).") var steps = false

        func run() {
            Topo.checkSimulated(bytes)
            let (d, n) = Topo.open(file)
            guard let c = Collective(rawValue: collective) else { failEverywhere("unknown --collective '\(collective)'") }
            if algorithm == "all" {
                // Every candidate the planner weighs, side by side, as `topo plan --explain` shows them.
                let ranks = Topo.ranks(ranks, n, d, limit: PlanComparison.maximumRanks, command: "topo simulate --algorithm all",
                                       cost: PlanComparison.maximumRanksCost)
                do {
                    let comparison = try PlanComparison(network: n, descriptor: d, ranks: ranks)
                    PlanExplanation.print(comparison.compare(c, sizes: [bytes.bytes], linkLoads: true), collective: c,
                                          comparison: comparison, json: json)
                } catch {
                    failEverywhere("\(error)")
                }
                return
            }
            guard let a = Algorithm(rawValue: algorithm), a != .mpi, a != .auto else {
                failEverywhere("unknown or unsimulatable --algorithm '\(algorithm)' (mpi and auto have no schedule; all compares every candidate)")
            }
            let ranks = Topo.ranks(ranks, n, d, limit: Simulator.maximumRanks, command: "topo simulate",
                                   cost: Simulator.maximumRanksCost)
            do {
                let placement = try Placement.endpoints(ranks: ranks, network: n, descriptor: d)
                let schedule = try Schedules.make(c, algorithm: a, ranks: placement.count,
                                                  segments: Schedules.segments(for: c, algorithm: a, bytes: bytes.bytes, ranks: placement.count),
                                                  network: n, placement: placement, nodes: Placement.nodes(placement))
                let simulator = Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement)
                let started = Date()
                let result = simulator.simulate(schedule, bytes: bytes.bytes)
                if steps { printSteps(simulator.stepTimes(schedule, bytes: bytes.bytes)) }
                if json {
                    printJSONLine(result)
                } else {
                    // Integers by interpolation: %d would cut an Int to 32 bits (4G printed as 0).
                    print("\(c.rawValue) \(a.rawValue) on \(placement.count) ranks, \(bytes.bytes) bytes: "
                        + String(format: "%.2f us", result.time_us)
                        + " (\(result.steps) steps, \(result.distinct_steps) distinct, \(result.flows) flows; simulated in "
                        + String(format: "%.2f s)", Date().timeIntervalSince(started)))
                }
            } catch {
                failEverywhere("\(error)")
            }
        }
    }

    /// Step times, runs of equal times folded into one line.
    static func printSteps(_ times: [Double]) {
        var i = 0
        while i < times.count {
            var j = i
            while j + 1 < times.count && abs(times[j + 1] - times[i]) <= 1e-3 * times[i] { j += 1 }
            let label = i == j ? "step \(i)" : "steps \(i)…\(j)"
            print(String(format: "  %@: %.2f us%@", label, times[i] * 1e6, i == j ? "" : String(format: " each, %.2f us in all", Double(j - i + 1) * times[i] * 1e6)))
            i = j + 1
        }
    }

    struct PlanCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "plan", abstract: "Write the algorithm plan (a tuning file).")
        @Argument var file: String
        @Option(parsing: .unconditional) var ranks: Int?
        @Option(name: .short, help: "Output file (default: stdout).") var output: String?
        @Flag(help: "Print every candidate at every size: predicted time, steps, time over the bandwidth bound, busiest link; and why the winner won.")
        var explain = false
        @Flag(help: "With --explain: one JSON object per size and candidate.") var json = false
        @Option(help: "With --explain: only this collective (default: allreduce, reduce-scatter, allgather, broadcast).")
        var collective: String?
        @Option(parsing: .unconditional, help: "With --explain: only this size (K/M/G/T suffixes, at most 1024T; default: every power of two from 8 B to 1 GiB).")
        var bytes: ByteCount?

        func run() {
            if let output { checkOutputPath(output, option: "-o", .file) }
            if let bytes { Topo.checkSimulated(bytes) }
            let (d, n) = Topo.open(file)
            let ranks = Topo.ranks(ranks, n, d, limit: PlanComparison.maximumRanks, command: "topo plan",
                                   cost: PlanComparison.maximumRanksCost)
            do {
                if explain || json || collective != nil || bytes != nil {
                    guard explain else { failEverywhere("--json, --collective and --bytes go with --explain") }
                    let collectives: [Collective]
                    if let collective {
                        guard let c = Collective(rawValue: collective) else {
                            failEverywhere("unknown --collective '\(collective)' (use \(Collective.allCases.map(\.rawValue).joined(separator: ", ")))")
                        }
                        collectives = [c]
                    } else {
                        collectives = [.allreduce, .reduceScatter, .allgather, .broadcast]
                    }
                    let comparison = try PlanComparison(network: n, descriptor: d, ranks: ranks)
                    for c in collectives {
                        let table = comparison.compare(c, sizes: bytes.map { [$0.bytes] } ?? Plan.sizes, linkLoads: true)
                        PlanExplanation.print(table, collective: c, comparison: comparison, json: json)
                    }
                    guard output != nil else { return }
                }
                let plan = try Plan.make(network: n, descriptor: d, ranks: ranks)
                if let output {
                    try writeAtomically(Data(plan.toml.utf8), to: output)
                } else {
                    print(plan.toml, terminator: "")
                }
            } catch {
                failEverywhere("\(error)")
            }
        }
    }

    struct Rankfile: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an Open MPI rankfile for the descriptor's placement.")
        @Argument var file: String
        @Option(parsing: .unconditional) var ranks: Int

        func run() {
            let (d, n) = Topo.open(file)
            do {
                let placement = try Placement.endpoints(ranks: ranks, network: n, descriptor: d)
                var slots: [Int: Int] = [:]
                for (rank, e) in placement.enumerated() {
                    print("rank \(rank)=\(n.endpointNames[e]) slot=\(slots[e, default: 0])")
                    slots[e, default: 0] += 1
                }
            } catch {
                failEverywhere("\(error)")
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a descriptor from parameters, e.g. `weft topo generate dragonfly --p 4 --a 8 --h 4`.")
        @Argument(help: "single-node, fat-tree, torus, dragonfly, dragonfly-plus, hyperx or express-mesh.") var kind: String
        @Option(parsing: .unconditional) var p: Int?
        @Option(parsing: .unconditional) var a: Int?
        @Option(parsing: .unconditional) var h: Int?
        @Option(parsing: .unconditional) var g: Int?
        @Option(parsing: .unconditional) var k: Int?
        @Option(parsing: .unconditional) var levels: Int?
        @Option(parsing: .unconditional) var oversubscription: Double?
        @Option var dims: String?
        @Option var wrap: Bool?
        @Option(parsing: .unconditional) var leaves: Int?
        @Option(parsing: .unconditional) var spines: Int?
        @Option(parsing: .unconditional) var endpoints: Int?
        @Option(parsing: .unconditional) var express: Int?
        @Option var routing: String?

        func run() {
            guard Descriptor.kinds.contains(kind), kind != "custom" else {
                failEverywhere("cannot generate kind '\(kind)' (choose from single-node, fat-tree, torus, dragonfly, dragonfly-plus, hyperx, express-mesh)")
            }
            var lines = ["kind = \"\(kind)\"", "name = \"generated \(kind)\""]
            var given: [(String, String)] = []
            if let p { given.append(("p", "\(p)")) }
            if let a { given.append(("a", "\(a)")) }
            if let h { given.append(("h", "\(h)")) }
            if kind == "dragonfly", let a, let h { given.append(("g", "\(g ?? a * h + 1)")) }
            else if kind == "dragonfly-plus", let spines, let h { given.append(("g", "\(g ?? spines * h + 1)")) }
            else if let g { given.append(("g", "\(g)")) }
            if let k { given.append(("k", "\(k)")) }
            if let levels { given.append(("levels", "\(levels)")) }
            if let oversubscription { given.append(("oversubscription", "\(oversubscription)")) }
            if let dims { given.append(("dims", "\"\(dims)\"")) }
            if let wrap { given.append(("wrap", "\(wrap)")) }
            if let leaves { given.append(("leaves", "\(leaves)")) }
            if let spines { given.append(("spines", "\(spines)")) }
            if let endpoints { given.append(("endpoints", "\(endpoints)")) }
            if let express { given.append(("express", "\(express)")) }
            lines += given.map { "\($0.0) = \($0.1)" }
            lines.append("")
            let text = lines.joined(separator: "\n") + (routing.map { "\n[routing]\nalgorithm = \"\($0)\"\n" } ?? "")
            do {
                // Only print what parses and builds.
                _ = try Descriptor.parse(text, file: "generated \(kind)").build()
            } catch {
                failEverywhere("\(error)")
            }
            print(text, terminator: "")
        }
    }
}
