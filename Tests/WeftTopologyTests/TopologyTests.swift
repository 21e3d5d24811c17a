import Foundation
import XCTest

@testable import WeftTopology

/// Descriptors, metrics against closed forms, routing, the simulator against physical
/// lower bounds, topology-aware schedules through the checker, and a descriptor fuzzer.
final class TopologyTests: XCTestCase {
    static let topologies = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("topologies")

    func load(_ name: String) throws -> (Descriptor, Network) {
        let d = try Descriptor.load(TopologyTests.topologies.appendingPathComponent(name).path)
        return (d, try d.build())
    }

    func error(_ text: String) -> String {
        errorText { _ = try Descriptor.parse(text, file: "t.toml").build() }
    }

    // MARK: - Descriptors

    func testEveryShippedDescriptorBuilds() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: TopologyTests.topologies.path)
        XCTAssertGreaterThanOrEqual(files.count, 10)
        for file in files { XCTAssertNoThrow(try load(file), file) }
    }

    func testBadDescriptorsGetOneLineNamingTheKey() {
        XCTAssertEqual(error("kind = \"dragonfly\"\np = 2\na = 4\nh = 2\ng = 10\n"),
                       "t.toml: key 'g': g = 10 exceeds a·h+1 = 9; use g ≤ 9")
        XCTAssertEqual(error("kind = \"butterfly\"\n"),
                       "t.toml: key 'kind': unknown kind 'butterfly'; use one of single-node, fat-tree, torus, dragonfly, dragonfly-plus, hyperx, express-mesh, custom")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\ncolour = 3\n"),
                       "t.toml: key 'colour': unknown for kind fat-tree (allowed: kind, name, links, routing, placement, cost, k, levels, oversubscription)")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 0\n"), "t.toml: key 'k': must be positive, got 0")
        for typo in ["4x", "4xx4", "x4"] {
            XCTAssertEqual(error("kind = \"torus\"\ndims = \"\(typo)\"\n"),
                           "t.toml: key 'dims': must look like \"4x4x4\" or [4, 4, 4] with positive sizes, got \"\(typo)\"")
        }
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.host]\nbandwidth = \"-5GB/s\"\nlatency = \"1us\"\n"),
                       "t.toml: key 'links.host.bandwidth': must be a positive bandwidth with a unit, e.g. \"25GB/s\" or \"200Gb/s\"")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.host]\nbandwidth = \"25\"\nlatency = \"1us\"\n"),
                       "t.toml: key 'links.host.bandwidth': must be a positive bandwidth with a unit, e.g. \"25GB/s\" or \"200Gb/s\"")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 100000\n"),
                       "t.toml: describes 250000000000000 endpoints; Weft models up to 1000000, so use smaller parameters")
        XCTAssertEqual(error("kind = \"dragonfly\"\np = 2\na = 4\n"), "t.toml: key 'h': missing; dragonfly needs it")
        XCTAssertEqual(error("""
            kind = "custom"
            [[switch]]
            name = "s0"
            [[switch]]
            name = "s1"
            [[endpoint]]
            name = "n0"
            switch = "s0"
            [[endpoint]]
            name = "n1"
            switch = "s1"
            """), "t.toml: the network is disconnected: endpoint 'n1' cannot reach 'n0'; add links")
        XCTAssertTrue(error("kind = \"torus\nk = 2\n").hasPrefix("t.toml:1: malformed TOML"), error("kind = \"torus\nk = 2\n"))
        XCTAssertThrowsError(try Descriptor.load("/nonexistent/x.toml")) {
            XCTAssertEqual("\($0)", "/nonexistent/x.toml: cannot read the file (check the path and permissions)")
        }
    }

    func testPlacementBeyondTheEndpointsIsRefused() throws {
        let (d, n) = try load("fat-tree-k4.toml")
        XCTAssertThrowsError(try Placement.endpoints(ranks: 17, network: n, descriptor: d)) {
            XCTAssertTrue("\($0)".hasSuffix("17 ranks exceed the network's 16 endpoints; use fewer ranks or a larger network"), "\($0)")
        }
    }

    func testSlurmRangesExpand() throws {
        XCTAssertEqual(try SlurmTopology.expand("tux[0-3,7]"), ["tux0", "tux1", "tux2", "tux3", "tux7"])
        XCTAssertEqual(try SlurmTopology.expand("a[08-10],b"), ["a08", "a09", "a10", "b"])
        XCTAssertThrowsError(try SlurmTopology.parse("SwitchName=s0 Nodes=n[0-1] LinkSpeed=abc\n", file: "t.conf")) {
            XCTAssertEqual("\($0)", "t.conf:1: key 'LinkSpeed': must be a positive integer, got 'abc'")
        }
        let (d, n) = try load("slurm-topology.conf")
        XCTAssertEqual(d.kind, .custom)
        XCTAssertEqual(n.endpoints, 8)
        XCTAssertEqual(n.switches, 3)
    }

    /// Random byte-level and line-level mutations of every shipped descriptor: each either
    /// builds or fails with a TopologyError — never a trap (which would end this process).
    func testMutatedDescriptorsNeverTrap() throws {
        var rng = SplitMix(seed: 42)
        let alphabet = Array("0123456789-=.[]\"x\n #abcdefghijklmnopqrstuvwxyz,")
        var built = 0, refused = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: TopologyTests.topologies.path) {
            let text = try String(contentsOf: TopologyTests.topologies.appendingPathComponent(file), encoding: .utf8)
            for _ in 0..<150 {
                var chars = Array(text)
                var lines = text.components(separatedBy: "\n")
                switch rng.next() % 5 {
                case 0: chars[Int(rng.next() % UInt64(chars.count))] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: chars.remove(at: Int(rng.next() % UInt64(chars.count)))
                case 2: chars.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: Int(rng.next() % UInt64(chars.count)))
                case 3:
                    lines.remove(at: Int(rng.next() % UInt64(lines.count)))
                    chars = Array(lines.joined(separator: "\n"))
                default:
                    let i = Int(rng.next() % UInt64(lines.count))
                    lines.insert(lines[i], at: Int(rng.next() % UInt64(lines.count)))
                    chars = Array(lines.joined(separator: "\n"))
                }
                do {
                    let mutated = String(chars)
                    let d = file.hasSuffix(".conf") ? try SlurmTopology.parse(mutated, file: file)
                        : try Descriptor.parse(mutated, file: file)
                    let n = try d.build()
                    _ = try Placement.endpoints(ranks: min(4, n.endpoints), network: n, descriptor: d)
                    built += 1
                } catch let error as TopologyError {
                    XCTAssertFalse(error.description.isEmpty)
                    XCTAssertFalse(error.description.contains("\n"), error.description)
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThan(built, 0)
        XCTAssertGreaterThan(refused, 0)
    }

    // MARK: - Metrics against closed forms

    func testFatTreeMetrics() throws {
        for k in [4, 8] {
            let (d, n) = try load("fat-tree-k\(k).toml")
            let m = NetworkMetrics(n, descriptor: d)
            XCTAssertEqual(m.endpoints, k * k * k / 4)
            XCTAssertEqual(m.switches, 5 * k * k / 4)
            XCTAssertEqual(m.links, 3 * k * k * k / 4)
            XCTAssertEqual(m.diameter_links, 6)
            XCTAssertEqual(m.bisection_links, k * k * k / 8)
            // Average: same edge switch 2 links, same pod 4, elsewhere 6.
            let e = Double(k * k * k / 4), perEdge = Double(k / 2), perPod = Double(k * k / 4)
            let expected = (2 * (perEdge - 1) + 4 * (perPod - perEdge) + 6 * (e - perPod)) / (e - 1)
            XCTAssertEqual(m.average_links, expected, accuracy: 1e-9)
        }
    }

    func testTorusAndDragonflyMetrics() throws {
        let (dt, t) = try load("torus-4x4x4.toml")
        let mt = NetworkMetrics(t, descriptor: dt)
        XCTAssertEqual(mt.endpoints, 64)
        XCTAssertEqual(mt.diameter_links, 2 + 3 * 2) // terminal links + 2 hops per dimension
        XCTAssertEqual(mt.bisection_links, 2 * 16) // wraparound: two cuts of a 4×4 face
        let (dd, df) = try load("dragonfly-small.toml")
        let md = NetworkMetrics(df, descriptor: dd)
        XCTAssertEqual(md.endpoints, 2 * 4 * 9)
        XCTAssertEqual(md.links_by_class["global"], 4 * 2 * 9 / 2)
        XCTAssertEqual(md.links_by_class["local"], 6 * 9)
        XCTAssertEqual(md.diameter_links, 5) // terminal, local, global, local, terminal
    }

    func testExpressMeshMetrics() throws {
        let (d, n) = try load("express-mesh.toml")
        let m = NetworkMetrics(n, descriptor: d)
        XCTAssertEqual(m.endpoints, 1024)
        XCTAssertEqual(m.links_by_class["network"], 2 * 8 * 7) // mesh: 7 links per line, 8 lines, 2 dimensions
        XCTAssertEqual(m.links_by_class["express"], 2 * 8 * 4) // i → i+4 for i = 0…3
        XCTAssertEqual(m.diameter_links, 2 + 2 * 3)          // 0→4→3→7 in each dimension
        XCTAssertEqual(m.bisection_links, 8 * (1 + 4))
    }

    // MARK: - Routing

    func testDragonflyRoutes() throws {
        let (_, n) = try load("dragonfly-small.toml")
        let globals = { (path: [Int]) in path.filter { n.classes[n.links[$0 / 2].linkClass].name == "global" }.count }
        let minimal = Router(network: n, policy: "minimal"), valiant = Router(network: n, policy: "valiant")
        for (a, b) in [(0, 71), (3, 40), (10, 11), (0, 8)] {
            let m = minimal.route(from: a, to: b)
            XCTAssertLessThanOrEqual(globals(m), 1)
            XCTAssertLessThanOrEqual(m.count, 5)
            if n.groupOf[a] != n.groupOf[b] { XCTAssertGreaterThanOrEqual(globals(valiant.route(from: a, to: b)), 1) }
            // A route is a chain of channels from a to b.
            var at = a
            for c in m {
                let l = n.links[c / 2]
                XCTAssertEqual(c % 2 == 0 ? l.a : l.b, at)
                at = c % 2 == 0 ? l.b : l.a
            }
            XCTAssertEqual(at, b)
        }
    }

    func testTorusDimensionOrderTakesTheShortWayRound() throws {
        let (_, n) = try load("torus-4x4x4.toml")
        let router = Router(network: n, policy: "dor")
        // Endpoint on switch (0,0,0) to one on (3,3,3): one wraparound hop per dimension.
        let from = n.switchOf.firstIndex { n.coordinates[$0] == [0, 0, 0] }!
        let to = n.switchOf.firstIndex { n.coordinates[$0] == [3, 3, 3] }!
        XCTAssertEqual(router.route(from: from, to: to).count, 2 + 3)
    }

    // MARK: - Simulator

    func simulator(_ name: String, ranks: Int) throws -> (Simulator, Network) {
        let (d, n) = try load(name)
        let placement = try Placement.endpoints(ranks: ranks, network: n, descriptor: d)
        return (Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement), n)
    }

    func testOneTransferIsLatencyPlusBytesOverBandwidth() throws {
        let (sim, n) = try simulator("fat-tree-k4.toml", ranks: 16)
        let s = Schedule(collective: .broadcast, algorithm: .ring, ranks: 16, layout: ChunkLayout(blocks: 1, chunksPerBlock: 1),
                         steps: [[.transfer(from: 0, to: 15, source: ChunkRange(0, count: 1),
                                            destination: ChunkRange(0, count: 1), reduce: false)]])
        let path = sim.router.route(from: sim.placement[0], to: sim.placement[15])
        let latency = path.reduce(0) { $0 + n.latency(ofChannel: $1) }
        let bandwidth = path.map { n.bandwidth(ofChannel: $0) }.min()!
        let bytes = 1 << 20
        XCTAssertEqual(sim.simulate(s, bytes: bytes).time_us, (latency + Double(bytes) / bandwidth + sim.overhead) * 1e6,
                       accuracy: 1e-6)
    }

    /// No algorithm beats the bandwidth bound of allreduce: every rank sends and receives
    /// 2(n−1)/n of the message through its one endpoint link.
    func testAllreduceNeverBeatsTheBandwidthBound() throws {
        for (name, ranks) in [("fat-tree-k4.toml", 16), ("torus-4x4x4.toml", 64), ("dragonfly-small.toml", 72),
                              ("dragonfly-plus.toml", 32), ("hyperx.toml", 16), ("fat-tree-k8-oversubscribed.toml", 128)] {
            let (sim, n) = try simulator(name, ranks: ranks)
            let bandwidth = sim.placement.map { e in n.adjacency[e].map { n.classes[n.links[$0.link].linkClass].bandwidth }.max()! }.max()!
            for algorithm in Plan.candidates(.allreduce, network: n) {
                let schedule: Schedule
                do {
                    schedule = try Schedules.make(.allreduce, algorithm: algorithm, ranks: ranks, network: n,
                                                  placement: sim.placement)
                } catch ScheduleError.irregular(_, _) {
                    continue
                }
                for bytes in [4 << 10, 1 << 20, 64 << 20] {
                    let bound = 2 * Double(ranks - 1) / Double(ranks) * Double(bytes) / bandwidth * 1e6
                    let t = sim.simulate(schedule, bytes: bytes).time_us
                    XCTAssertGreaterThanOrEqual(t, bound * 0.999, "\(algorithm) on \(name) at \(bytes) B")
                }
            }
        }
    }

    func testOversubscriptionSlowsCrossPodTraffic() throws {
        let (full, _) = try simulator("fat-tree-k8.toml", ranks: 128)
        let (over, _) = try simulator("fat-tree-k8-oversubscribed.toml", ranks: 128)
        let ring = try Schedules.make(.alltoall, algorithm: .ring, ranks: 128)
        XCTAssertGreaterThan(over.simulate(ring, bytes: 64 << 20).time_us, 1.5 * full.simulate(ring, bytes: 64 << 20).time_us)
    }

    func testHierarchicalBeatsTheFlatRingOnTheLargeDragonfly() throws {
        let (d, n) = try load("dragonfly-1k.toml")
        let placement = try Placement.endpoints(ranks: n.endpoints, network: n, descriptor: d)
        let sim = Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement)
        let ring = sim.simulate(try Schedules.make(.allreduce, algorithm: .ring, ranks: placement.count), bytes: 16 << 20)
        let hier = sim.simulate(try Schedules.make(.allreduce, algorithm: .hierarchical, ranks: placement.count,
                                                   network: n, placement: placement), bytes: 16 << 20)
        XCTAssertLessThan(hier.time_us, ring.time_us)
    }

    // MARK: - Topology-aware schedules are correct

    func testTopologySchedulesPassTheChecker() throws {
        for (name, ranks) in [("fat-tree-k4.toml", 16), ("fat-tree-k4.toml", 8), ("torus-4x4x4.toml", 64),
                              ("dragonfly-small.toml", 72), ("dragonfly-small.toml", 16), ("hyperx.toml", 16),
                              ("dragonfly-plus.toml", 32), ("hyperx.toml", 64), ("express-mesh.toml", 128)] {
            let (d, n) = try load(name)
            let placement = try Placement.endpoints(ranks: ranks, network: n, descriptor: d)
            var checked: Set<Algorithm> = []
            for algorithm in Algorithm.topologyAware {
                for collective in Schedules.collectives(servedBy: algorithm) {
                    // Only a placement the algorithm cannot use may skip it; any other error fails.
                    let s: Schedule
                    do {
                        s = try Schedules.make(collective, algorithm: algorithm, ranks: placement.count, network: n,
                                               placement: placement)
                    } catch ScheduleError.irregular(_, _) {
                        continue
                    }
                    XCTAssertNoThrow(try ScheduleChecker.check(s), "\(algorithm) \(collective) on \(name), \(ranks) ranks")
                    checked.insert(algorithm)
                }
            }
            // The algorithm made for each network kind must have been generated and proved.
            let expected: Set<Algorithm> = switch n.kind {
            case .dragonfly, .dragonflyPlus: [.topoRing, .dragonfly]
            case .torus, .hyperx, .expressMesh: [.topoRing, .torus]
            default: [.topoRing, .hierarchical]
            }
            XCTAssertTrue(expected.isSubset(of: checked), "\(name), \(ranks) ranks: proved only \(checked)")
        }
    }

    func testTopoRingCrossesEachGroupBoundaryOnce() throws {
        let (d, n) = try load("dragonfly-small.toml")
        var descriptor = d
        descriptor.placement = "round-robin"
        let placement = try Placement.endpoints(ranks: 72, network: n, descriptor: descriptor)
        let s = try Schedules.make(.allreduce, algorithm: .topoRing, ranks: placement.count, network: n, placement: placement)
        let crossings = s.step(0).filter {
            guard case .transfer(let a, let b, _, _, _) = $0 else { return false }
            return n.groupOf[placement[a]] != n.groupOf[placement[b]]
        }.count
        XCTAssertEqual(crossings, 9) // one per group of the 9
    }

    // MARK: - Plans

    func testPlanRoundTripsThroughATuningFile() throws {
        let (d, n) = try load("dragonfly-small.toml")
        let plan = try Plan.make(network: n, descriptor: d, ranks: 16, collectives: [.allreduce, .allgather])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-plan-\(getpid()).toml")
        try plan.toml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let loaded = try Plan.load(file.path)
        XCTAssertEqual(loaded.ranks, 16)
        XCTAssertEqual(loaded.rules.map(\.algorithm), plan.rules.map(\.algorithm))
        XCTAssertEqual(loaded.rules.map(\.minBytes), plan.rules.map(\.minBytes))
        // Rules tile the sizes with no gap.
        for c in [Collective.allreduce, .allgather] {
            let rules = plan.rules.filter { $0.collective == c }
            XCTAssertEqual(rules.first?.minBytes, 0)
            XCTAssertEqual(rules.last?.maxBytes, Int.max)
            for (a, b) in zip(rules, rules.dropFirst()) { XCTAssertEqual(a.maxBytes, b.minBytes) }
        }
    }

    /// A tuning file's wrongly typed or out-of-range value is an error naming its key,
    /// never a silent default (0 bytes, no limit, no rules).
    func testTuningFileRejectsWrongTypesAndRanges() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-tuning-\(getpid()).toml")
        defer { XCTAssertNoThrow(try FileManager.default.removeItem(at: file)) }
        func load(_ text: String) throws -> Plan {
            try text.write(to: file, atomically: true, encoding: .utf8)
            return try Plan.load(file.path)
        }
        let rule = "[[rule]]\ncollective = \"allreduce\"\nalgorithm = \"ring\"\n"
        let cases: [(String, String)] = [
            (rule + "min_bytes = \"1K\"\n", "key 'rule[0].min_bytes': must be an integer number of bytes ≥ 0, got \"1K\""),
            (rule + "min_bytes = 1.5\n", "key 'rule[0].min_bytes': must be an integer number of bytes ≥ 0, got 1.5"),
            (rule + "min_bytes = -5\n", "key 'rule[0].min_bytes': must be an integer number of bytes ≥ 0, got -5"),
            (rule + "max_bytes = \"64M\"\n", "key 'rule[0].max_bytes': must be a positive integer number of bytes (leave it out for no limit), got \"64M\""),
            (rule + "min_bytes = 64\nmax_bytes = 8\n", "key 'rule[0].max_bytes': must be larger than min_bytes (64), got 8"),
            (rule + "predicted_us = \"fast\"\n", "key 'rule[0].predicted_us': must be a number of microseconds ≥ 0, got \"fast\""),
            (rule + "measured_us = nan\n", "key 'rule[0].measured_us': must be a number of microseconds ≥ 0, got nan"),
            ("rule = 5\n", "key 'rule': must be [[rule]] tables, got 5"),
            ("ranks = 0\n" + rule, "key 'ranks': must be a positive integer (the job size the rules are for), got 0"),
            ("ranks = \"4\"\n" + rule, "key 'ranks': must be a positive integer (the job size the rules are for), got \"4\""),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try load(text), text) {
                XCTAssertEqual(($0 as? TopologyError)?.description, "\(file.path): \(message)", text)
            }
        }
        // Valid files keep their meaning: missing bounds are 0 and unlimited, times may be integers.
        let plan = try load("ranks = 4\n" + rule + "measured_us = 12\n")
        XCTAssertEqual(plan.ranks, 4)
        XCTAssertEqual(plan.rules.first?.minBytes, 0)
        XCTAssertEqual(plan.rules.first?.maxBytes, Int.max)
        XCTAssertEqual(plan.rules.first?.measuredMicroseconds, 12)
        XCTAssertEqual(try load(rule).ranks, 0)
    }

    /// The plan's algorithm is the fastest candidate at every power of two from 8 B to
    /// 256 MiB, each candidate simulated here on its own (not through the planner's table).
    func testPlanChoosesTheMinimumAtEveryPowerOfTwo() throws {
        for (name, ranks) in [("hyperx.toml", 64), ("fat-tree-k4.toml", 16)] {
            let (d, n) = try load(name)
            let collectives: [Collective] = [.allreduce, .reduceScatter, .allgather, .broadcast]
            let plan = try Plan.make(network: n, descriptor: d, ranks: ranks, collectives: collectives)
            let placement = try Placement.endpoints(ranks: ranks, network: n, descriptor: d)
            let simulator = Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement)
            for collective in collectives {
                for shift in 3...28 {
                    let bytes = 1 << shift
                    var times: [Algorithm: Double] = [:]
                    for algorithm in Plan.candidates(collective, network: n) {
                        let segments = Schedules.segments(for: collective, algorithm: algorithm, bytes: bytes, ranks: ranks)
                        // Only a placement the algorithm cannot use may leave it out; any other error fails.
                        let s: Schedule
                        do {
                            s = try Schedules.make(collective, algorithm: algorithm, ranks: ranks, segments: segments,
                                                   network: n, placement: placement, nodes: Placement.nodes(placement))
                        } catch ScheduleError.irregular(_, _) {
                            continue
                        }
                        times[algorithm] = simulator.simulate(s, bytes: bytes).time_us
                    }
                    let rule = plan.rules.first { $0.collective == collective && $0.minBytes <= bytes && bytes < $0.maxBytes }
                    let best = times.values.min()!
                    guard let rule, let chosen = times[rule.algorithm] else {
                        XCTFail("\(name) \(collective) \(bytes) B: no rule or an algorithm that cannot run")
                        continue
                    }
                    XCTAssertLessThanOrEqual(chosen, best * (1 + 1e-9),
                                             "\(name) \(collective) \(bytes) B: plan picks \(rule.algorithm) (\(chosen) us), best \(best) us")
                }
            }
        }
    }
}

/// A small deterministic generator for the fuzzer.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
