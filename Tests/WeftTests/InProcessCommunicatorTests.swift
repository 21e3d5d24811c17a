import CWeft
import Foundation
import XCTest

@testable import Weft
import WeftTopology

/// The Communicator's logic on in-process, thread-per-rank communicators: every collective
/// and algorithm against closed forms on 1-5 ranks and on emulated nodes, the errors
/// (count mismatch, a missing rank's timeout), `auto`'s precedence, split and dup, windows.
final class InProcessCommunicatorTests: XCTestCase {
    static let topologies = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("topologies")

    override func setUp() { Runtime.timeout = 10 }
    override func tearDown() { Runtime.timeout = 60 }

    // MARK: - Collectives against closed forms

    func testEveryCollectiveAndAlgorithmOnOneNode() throws {
        for ranks in 1...5 {
            let failures = try InProcessRanks<[String]>.values(ranks: ranks) { world in
                sweep(world, algorithms: Algorithm.concrete + [.auto])
            }
            XCTAssertEqual(failures.flatMap { $0 }, [], "\(ranks) ranks")
        }
    }

    /// Two-level and the node layout: ranks spread over emulated nodes, even, uneven, one
    /// rank per node, four nodes (two-level halves across them below 512 KiB), and
    /// interleaved (node of rank r = r mod 2).
    func testEveryAlgorithmAcrossEmulatedNodes() throws {
        let layouts = [[2, 2], [3, 1], [1, 1, 1], [2, 3], [1, 1, 1, 1], [2, 1, 2, 1]].map(nodeOfRank) + [[0, 1, 0, 1, 0]]
        for layout in layouts {
            let failures = try InProcessRanks<[String]>.values(ranks: layout.count, nodeOfRank: layout) { world in
                if world.isNodeLocal { return ["\(layout) reported as one node"] }
                return sweep(world, algorithms: Algorithm.concrete.filter { $0 != .direct } + [.auto])
            }
            XCTAssertEqual(failures.flatMap { $0 }, [], "nodes \(layout)")
        }
    }

    /// Two-level allreduce on four nodes in both size classes: halving across below 512 KiB,
    /// the ring from there (TwoLevel.segments(for:bytes:ranks:)).
    func testTwoLevelAllreduceOnFourNodesInBothSizeClasses() throws {
        let failures = try InProcessRanks<[String]>.values(ranks: 6, nodeOfRank: nodeOfRank([2, 1, 2, 1])) { world in
            try [1000, (512 << 10) / 4 + 5].compactMap { count in
                try check(world, Float.init, .allreduce, .twoLevel, count: count, op: .sum).map { "count \(count): \($0)" }
            }
        }
        XCTAssertEqual(failures.flatMap { $0 }, [])
    }

    func testDirectAcrossNodesNeedsSharedMemory() throws {
        let outcomes = try InProcessRanks<Void>.outcomes(ranks: 3, nodeOfRank: [0, 0, 1]) { world in
            var x = [Float](repeating: 1, count: 8)
            try world.allreduce(&x, algorithm: .direct)
        }
        for outcome in outcomes {
            XCTAssertThrowsError(try outcome.get()) {
                XCTAssertEqual("\($0)", "direct allreduce: shared-memory operation needs every rank on one node")
            }
        }
    }

    func testRegisteredBuffersOnOneNode() throws {
        let failures = try InProcessRanks<[String]>.values(ranks: 3) { world in
            var failures: [String] = []
            for collective in Collective.allCases where collective != .barrier {
                for algorithm in [Algorithm.direct, .auto, .ring] where Schedules.collectives(servedBy: algorithm).contains(collective) {
                    let count = collective == .allreduce ? 40_000 : 1001
                    do {
                        if let problem = try check(world, Float.init, collective, algorithm, count: count, op: .sum,
                                                   registered: true) {
                            failures.append("\(collective.rawValue) \(algorithm.rawValue) registered: \(problem)")
                        }
                    } catch {
                        return failures + ["\(collective.rawValue) \(algorithm.rawValue) registered threw \(error)"]
                    }
                }
            }
            return failures
        }
        XCTAssertEqual(failures.flatMap { $0 }, [])
    }

    /// Registered buffers on communicators across emulated nodes: each node's ranks share a
    /// window, and two-level's pulls inside a node read node-mates' buffers directly (no
    /// cross-memory copy). Even, uneven and single-rank nodes; every collective two-level
    /// serves, and a message schedule beside it.
    func testRegisteredBuffersAcrossNodes() throws {
        for layout in [[2, 2], [3, 1], [1, 2, 2]].map(nodeOfRank) {
            let failures = try InProcessRanks<[String]>.values(ranks: layout.count, nodeOfRank: layout) { world in
                let mappedBefore = weft_pull_mapped_reads()
                var failures = Self.registeredSweep(world)
                // Every rank with a node-mate read pulls through the mapping, not by system call.
                let hasMate = try world.nodes().contains { $0.contains(world.rank) && $0.count > 1 }
                if hasMate && weft_pull_mapped_reads() == mappedBefore {
                    failures.append("rank \(world.rank): no pull read a node-mate's mapped segment")
                }
                return failures
            }
            XCTAssertEqual(failures.flatMap { $0 }, [], "nodes \(layout)")
        }
    }

    private static func registeredSweep(_ world: Communicator) -> [String] {
        var failures: [String] = []
        for algorithm in [Algorithm.twoLevel, .ring] {
            for collective in Schedules.collectives(servedBy: algorithm) where collective != .barrier {
                for op in collective.reduces ? [ReduceOp.sum, .max] : [.sum] {
                    for count in [7, 40_000] {
                        let name = "\(collective.rawValue) \(algorithm.rawValue) \(op.rawValue) count \(count)"
                        do {
                            if let problem = try check(world, Float.init, collective, algorithm, count: count, op: op,
                                                       registered: true) {
                                failures.append("rank \(world.rank): \(name): \(problem)")
                            }
                        } catch {
                            return failures + ["rank \(world.rank): \(name) threw \(error)"]
                        }
                    }
                }
            }
        }
        return failures
    }

    /// Ordinary buffers reach `direct` by cross-memory attach (on this process's own pid)
    /// unless it is off; then they stage through a shared window.
    func testDirectOnOrdinaryBuffersWithAndWithoutCrossMemory() throws {
        for crossMemory in ["1", "0"] {
            setenv("WEFT_CROSS_MEMORY", crossMemory, 1)
            defer { unsetenv("WEFT_CROSS_MEMORY") }
            let failures = try InProcessRanks<[String]>.values(ranks: 3) { world in
                try [Collective.allreduce, .reduceScatter, .allgather, .broadcast, .reduce, .alltoall].compactMap {
                    try check(world, Int32.init, $0, .direct, count: 5000, op: .sum).map { "\(crossMemory) \($0)" }
                }
            }
            XCTAssertEqual(failures.flatMap { $0 }, [], "WEFT_CROSS_MEMORY=\(crossMemory)")
        }
    }

    /// Floats that are not small integers: every algorithm within rounding of `mpi`, whose
    /// rank-order reduction gives every rank the same bits.
    func testAlgorithmsAgreeWithNativeAndNativeIsIdenticalOnEveryRank() throws {
        let results = try InProcessRanks<[Float]>.values(ranks: 5) { world in
            let x = (0..<4099).map { Float(sin(Double($0 * 7 + world.rank * 13))) }
            var native = x
            try world.allreduce(&native, algorithm: .mpi)
            for algorithm in Algorithm.concrete where algorithm != .mpi
                && Schedules.collectives(servedBy: algorithm).contains(.allreduce) {
                var mine = x
                try world.allreduce(&mine, algorithm: algorithm)
                if let i = mine.indices.first(where: { abs(mine[$0] - native[$0]) > 1e-5 * max(1, abs(native[$0])) }) {
                    throw WeftError(function: algorithm.rawValue, reason: "element \(i) is \(mine[i]), native \(native[i])")
                }
            }
            return native
        }
        for rank in 1..<results.count { XCTAssertEqual(results[rank], results[0], "rank \(rank)") }
    }

    func testTransfersLargerThanOneMessageAreSplit() throws {
        Runtime.setMaxMessageBytes(100)
        defer { Runtime.setMaxMessageBytes(0) }
        let failures = try InProcessRanks<[String]>.values(ranks: 3) { world in
            try [Algorithm.ring, .rabenseifner, .tree].compactMap { algorithm in
                try check(world, Int64.init, .allreduce, algorithm, count: 1000, op: .sum).map { "\(algorithm): \($0)" }
            }
        }
        XCTAssertEqual(failures.flatMap { $0 }, [])
    }

    // MARK: - Errors

    func testMismatchedCountsFailOnEveryRank() throws {
        for (algorithm, ranks) in [(Algorithm.mpi, 3), (.direct, 3), (.ring, 2)] {
            let outcomes = try InProcessRanks<Void>.outcomes(ranks: ranks) { world in
                var x = [Float](repeating: 1, count: 100 + (world.rank == 0 ? 2 : 0))
                try world.allreduce(&x, algorithm: algorithm)
            }
            for (rank, outcome) in outcomes.enumerated() {
                XCTAssertThrowsError(try outcome.get(), "\(algorithm) rank \(rank)") { error in
                    let error = error as? WeftError
                    XCTAssertEqual(error?.isCountMismatch, true, "\(algorithm) rank \(rank): \(String(describing: error))")
                    XCTAssertEqual(error?.reason, "ranks passed different element counts to the same collective")
                }
            }
        }
    }

    /// Rank 2 never calls: the others fail with a timeout, not a hang — in a native
    /// collective, in message passing, and in the shared-memory barrier of `direct`.
    func testAMissingRankTimesOut() throws {
        Runtime.timeout = 0.5
        for (algorithm, registered) in [(Algorithm.mpi, false), (.ring, false), (.direct, true)] {
            let outcomes = try InProcessRanks<Double>.outcomes(ranks: 3) { world in
                let buffer = try world.registeredBuffer(of: Float.self, count: 64)
                defer { buffer.free() }
                var x = [Float](repeating: 1, count: 64)
                func call() throws {
                    if registered { try world.allreduce(buffer.pointer, algorithm: algorithm) }
                    else { try world.allreduce(&x, algorithm: algorithm) }
                }
                try call() // all ranks: set-up (shared windows) happens here
                if world.rank == 2 { return 0 }
                let start = Date()
                do {
                    try call()
                } catch let error as WeftError where error.isTimeout {
                    return Date().timeIntervalSince(start)
                }
                throw WeftError(function: "test", reason: "no timeout")
            }
            for rank in 0..<2 {
                let waited = try outcomes[rank].get()
                // Each wait is bounded; a rank may wait once more for a peer that timed out.
                XCTAssert(waited >= 0.45 && waited < 2, "\(algorithm) rank \(rank) waited \(waited) s")
            }
        }
    }

    /// Across nodes a timed-out schedule names the rank it was waiting for and its host.
    func testATimeoutNamesTheRankThatDidNotAnswerAndItsHost() throws {
        Runtime.timeout = 0.5
        for algorithm in [Algorithm.ring, .twoLevel] {
            let outcomes = try InProcessRanks<String>.outcomes(ranks: 3, nodeOfRank: [0, 0, 1]) { world in
                var x = [Float](repeating: 1, count: 64)
                try world.allreduce(&x, algorithm: algorithm)
                if world.rank == 2 { return "" }
                do {
                    try world.allreduce(&x, algorithm: algorithm)
                } catch let error as WeftError where error.isTimeout {
                    return error.reason
                }
                throw WeftError(function: "test", reason: "no timeout")
            }
            // Rank 0 waits on rank 2 in both schedules (ring: its left neighbour; two-level: the
            // other node's owner of its shard).
            XCTAssertEqual(try outcomes[0].get(),
                           "timed out waiting for rank 2 (host host-1): it, or a rank it waits for, died, hangs or was stopped, or the ranks called different collectives",
                           "\(algorithm)")
        }
    }

    // MARK: - auto, topology and placement

    /// `resolve` through a Communicator: WEFT_ALGO, then the tuning file, then the plan, then
    /// the table — and each choice runs and gives the right sum on 2 emulated hosts.
    func testAutoFollowsForcedThenTuningThenPlanThenTable() throws {
        let path = Self.topologies.appendingPathComponent("emulated-2hosts.toml").path
        let bytes = 64 * 4
        let runs = try InProcessRanks<(chosen: [Algorithm], expected: [Algorithm])>.values(
            ranks: 4, nodeOfRank: [0, 0, 1, 1]
        ) { world in
            try world.configure(topology: path)
            guard let planned = world.network?.plan.choose(.allreduce, bytes: bytes) else {
                throw WeftError(function: "test", reason: "the plan has no allreduce rule for \(bytes) bytes")
            }
            // Four different algorithms, so each source's answer is told apart.
            let others = [Algorithm.ring, .tree, .recursiveDoubling, .rabenseifner, .doubleTree].filter { $0 != planned }
            let (forced, tuned, tabled) = (others[0], others[1], others[2])
            world.selector = AlgorithmSelector(rows: [.init(.allreduce, ranks: 1...64, bytes: 0..<Int.max, tabled)])
            world.tuning = Plan(ranks: 4, source: "test", rules: [
                Plan.Rule(collective: .allreduce, minBytes: 0, maxBytes: 1 << 20, algorithm: tuned, predictedMicroseconds: 0),
            ])
            var chosen: [Algorithm] = []
            func step() throws {
                chosen.append(try world.resolve(.auto, .allreduce, bytes: bytes, registered: false))
                if let problem = try check(world, Float.init, .allreduce, .auto, count: 64, op: .sum) {
                    throw WeftError(function: "auto as \(chosen.last!)", reason: problem)
                }
            }
            world.forced = forced
            try step()
            world.forced = nil
            try step()
            world.tuning = nil
            try step()
            world.network = nil
            try step()
            return (chosen, [forced, tuned, planned, tabled])
        }
        for run in runs { XCTAssertEqual(run.chosen, run.expected) }
    }

    /// `auto` asks which ranks share a node: placed round-robin, a 4 MiB allreduce runs
    /// two-level (and gives the right sums); placed consecutively, Open MPI's.
    func testAutoRunsTwoLevelWhenNodesInterleave() throws {
        for (placement, expected) in [([0, 1, 0, 1], Algorithm.twoLevel), ([0, 0, 1, 1], .mpi)] {
            let chosen = try InProcessRanks<Algorithm>.values(ranks: 4, nodeOfRank: placement) { world in
                let algorithm = try world.resolve(.auto, .allreduce, bytes: 4 << 20, registered: false)
                var x = [Float](repeating: Float(world.rank + 1), count: 1 << 20)
                try world.allreduce(&x, algorithm: .auto)
                guard x.allSatisfy({ $0 == 10 }) else { throw WeftError(function: "test", reason: "wrong sum") }
                return algorithm
            }
            XCTAssertEqual(chosen, [Algorithm](repeating: expected, count: 4), "placement \(placement)")
        }
    }

    /// Two uneven nodes (2+1): auto runs two-level for a registered 1 MiB allreduce (pulls run
    /// between the two node-mates), Open MPI's for an ordinary one; the sum is right either way.
    func testAutoRunsTwoLevelOnUnevenNodesForRegisteredBuffers() throws {
        let chosen = try InProcessRanks<[Algorithm]>.values(ranks: 3, nodeOfRank: [0, 0, 1]) { world in
            let registered = try world.resolve(.auto, .allreduce, bytes: 1 << 20, registered: true)
            let ordinary = try world.resolve(.auto, .allreduce, bytes: 1 << 20, registered: false)
            let buffer = try world.registeredBuffer(of: Float.self, count: 1 << 18)
            defer { buffer.free() }
            buffer.pointer.initialize(repeating: Float(world.rank + 1))
            try world.allreduce(buffer.pointer, algorithm: .auto)
            guard buffer.pointer.allSatisfy({ $0 == 6 }) else { throw WeftError(function: "test", reason: "wrong sum") }
            return [registered, ordinary]
        }
        XCTAssertEqual(chosen, [[Algorithm]](repeating: [.twoLevel, .mpi], count: 3))
    }

    /// Ranks given different tuning files (by contents) all fail alike at configuration.
    func testRanksWithDifferentTuningFilesFailAlike() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-agree-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { XCTAssertNoThrow(try FileManager.default.removeItem(at: folder)) }
        let files = ["ring", "tree"].map { algorithm -> String in
            let path = folder.appendingPathComponent("\(algorithm).toml").path
            FileManager.default.createFile(atPath: path, contents: Data(
                "ranks = 2\n[[rule]]\ncollective = \"allreduce\"\nalgorithm = \"\(algorithm)\"\n".utf8))
            return path
        }
        let outcomes = try InProcessRanks<Void>.outcomes(ranks: 2) { world in
            try world.configure(tuning: files[world.rank])
        }
        for outcome in outcomes {
            XCTAssertThrowsError(try outcome.get()) {
                XCTAssertEqual("\($0)", "configuration: --topology, --tuning (WEFT_TOPOLOGY, WEFT_TUNING) or WEFT_ALGO differ between ranks (files by their contents); give every rank the same")
            }
        }
        let same = try InProcessRanks<Algorithm>.values(ranks: 2) { world in
            try world.configure(tuning: files[0])
            return try world.resolve(.auto, .allreduce, bytes: 64, registered: false)
        }
        XCTAssertEqual(same, [.ring, .ring])
    }

    func testTopologyAwareAlgorithmsRunOnEmulatedHosts() throws {
        let path = Self.topologies.appendingPathComponent("emulated-2hosts.toml").path
        let failures = try InProcessRanks<[String]>.values(ranks: 4, nodeOfRank: [0, 0, 1, 1]) { world in
            try world.configure(topology: path)
            let kind = world.network!.network.kind
            return try Algorithm.topologyAware.filter { Schedules.suits($0, kind) }.flatMap { algorithm in
                try Schedules.collectives(servedBy: algorithm).compactMap { collective in
                    try check(world, Int64.init, collective, algorithm, count: 1001, op: .sum)
                        .map { "\(collective.rawValue) \(algorithm.rawValue): \($0)" }
                }
            }
        }
        XCTAssertEqual(failures.flatMap { $0 }, [])
    }

    func testDescriptorPlacingRanksOfTwoHostsOnOneNodeIsRefused() throws {
        let path = Self.topologies.appendingPathComponent("emulated-2hosts.toml").path
        let outcomes = try InProcessRanks<Void>.outcomes(ranks: 4, nodeOfRank: [0, 1, 0, 1]) { world in
            try world.configure(topology: path)
        }
        for outcome in outcomes {
            XCTAssertThrowsError(try outcome.get()) {
                XCTAssertEqual("\($0)", "topology \(path) places ranks 0 and 1 on one node (endpoint 'h1') but MPI put "
                    + "them on hosts host-0 and host-1; fix the descriptor's placement or the rank layout")
            }
        }
    }

    // MARK: - Communicators and windows

    func testSplitDuplicateAndSplitByNode() throws {
        let reports = try InProcessRanks<String>.values(ranks: 5, nodeOfRank: nodeOfRank([2, 3])) { world in
            let rank = world.rank
            let copy = try world.duplicate()
            var x = [Int64(rank + 1)]
            try copy.allreduce(&x, algorithm: .ring)
            // Even and odd ranks, each in reverse order.
            guard let half = try world.split(color: rank % 2, key: -rank) else { return "not in its half" }
            var y = [Int64(rank)]
            try half.allreduce(&y, algorithm: .recursiveDoubling)
            let leftOut = try world.split(color: rank == 0 ? -1 : 0, key: 0)
            let node = try world.splitByNode()
            var z = [Float(1)]
            try node.allreduce(&z, algorithm: .direct)
            return "copy \(copy.rank)/\(copy.size) sum \(x[0]); half \(half.rank)/\(half.size) sum \(y[0]); "
                + "left out \(leftOut == nil); node \(node.rank)/\(node.size) local \(node.isNodeLocal) sum \(z[0]); "
                + "nodes \(try world.nodes()) hosts \(try world.hostNames())"
        }
        let nodes = "nodes [[0, 1], [2, 3, 4]] hosts [\"host-0\", \"host-0\", \"host-1\", \"host-1\", \"host-1\"]"
        XCTAssertEqual(reports, [
            "copy 0/5 sum 15; half 2/3 sum 6; left out true; node 0/2 local true sum 2.0; " + nodes,
            "copy 1/5 sum 15; half 1/2 sum 4; left out false; node 1/2 local true sum 2.0; " + nodes,
            "copy 2/5 sum 15; half 1/3 sum 6; left out false; node 0/3 local true sum 3.0; " + nodes,
            "copy 3/5 sum 15; half 0/2 sum 4; left out false; node 1/3 local true sum 3.0; " + nodes,
            "copy 4/5 sum 15; half 0/3 sum 6; left out false; node 2/3 local true sum 3.0; " + nodes,
        ])
    }

    func testWindowPutToTheRightAndGetFromTheLeft() throws {
        let fetched = try InProcessRanks<[Int64]>.values(ranks: 3) { world in
            let rank = world.rank, size = world.size
            let window = try MemoryWindow(communicator: world, bytes: 8 * size)
            defer { window.free() }
            var mine = Int64(100 + rank)
            try withUnsafeBytes(of: &mine) { try window.put($0, to: (rank + 1) % size, offset: 8 * rank) }
            try window.flush()
            try world.barrier(algorithm: .mpi)
            let left = (rank + size - 1) % size
            let landed = window.base.load(fromByteOffset: 8 * left, as: Int64.self)
            var got = Int64(0)
            try withUnsafeMutableBytes(of: &got) { try window.get($0, from: left, offset: 8 * ((left + size - 1) % size)) }
            try window.flush(left)
            try world.barrier(algorithm: .mpi)
            return [landed, got]
        }
        XCTAssertEqual(fetched, [[102, 101], [100, 102], [101, 100]])
    }
}

// MARK: - Values, closed forms and the sweep

/// Rank r's i-th input: a small positive integer, so every type holds it and float sums are
/// exact in any order.
private func input(_ r: Int, _ i: Int) -> Int { 1 + (i * 5 + r * 3) % 11 }

private func value(_ op: ReduceOp, _ r: Int, _ i: Int) -> Int { op == .prod ? input(r, i) % 3 + 1 : input(r, i) }

private func expected(_ op: ReduceOp, _ i: Int, ranks: Int) -> Int {
    let values = (0..<ranks).map { value(op, $0, i) }
    switch op {
    case .sum: return values.reduce(0, +)
    case .avg: return values.reduce(0, +) / ranks
    case .prod: return values.reduce(1, *)
    case .max: return values.max()!
    case .min: return values.min()!
    }
}

/// Every collective with every algorithm that serves it, each operator, several counts
/// (odd, below and above the rank count) and three types; this rank's failures. Stops at
/// the first error thrown, since the other ranks then wait in vain.
private func sweep(_ world: Communicator, algorithms: [Algorithm]) -> [String] {
    let size = world.size
    let counts = Array(Set([0, 1, size + 1, 7 * size + 3, 1000])).sorted()
    var failures: [String] = []
    for algorithm in algorithms {
        for collective in Schedules.collectives(servedBy: algorithm) {
            for op in collective.reduces ? ReduceOp.allCases : [.sum] {
                let name = "\(collective.rawValue) \(algorithm.rawValue) \(op.rawValue)"
                do {
                    for count in collective == .barrier ? [0] : (op == .sum ? counts : [3, 1000]) {
                        if let problem = try check(world, Int64.init, collective, algorithm, count: count, op: op) {
                            failures.append("rank \(world.rank): \(name) i64 count \(count): \(problem)")
                        }
                    }
                    guard op == .sum && collective != .barrier else { continue }
                    if let problem = try check(world, Int32.init, collective, algorithm, count: 1001, op: op) {
                        failures.append("rank \(world.rank): \(name) i32: \(problem)")
                    }
                    if let problem = try check(world, Float.init, collective, algorithm, count: 3 * size + 1, op: op) {
                        failures.append("rank \(world.rank): \(name) f32: \(problem)")
                    }
                } catch {
                    return failures + ["rank \(world.rank): \(name) threw \(error)"]
                }
            }
        }
    }
    return failures
}

/// Runs one collective on closed-form inputs (in registered memory when asked) and returns
/// the first wrong element, if any. Block-wise collectives take `count` per block.
private func check<T: WeftScalar & Equatable>(_ world: Communicator, _ make: (Int) -> T, _ collective: Collective,
                                              _ algorithm: Algorithm, count: Int, op: ReduceOp,
                                              registered: Bool = false) throws -> String? {
    let rank = world.rank, size = world.size
    let root = collective.isRooted ? size - 1 : 0
    let block = collective.isBlockwise ? count : 0
    let total = collective.isBlockwise ? count * size : count
    var windows: [RegisteredBuffer<T>] = []
    let data: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>
    if registered {
        windows = [try world.registeredBuffer(count: total), try world.registeredBuffer(count: total)]
        (data, output) = (windows[0].pointer, windows[1].pointer)
    } else {
        (data, output) = (.allocate(capacity: total), .allocate(capacity: total))
    }
    defer {
        if registered { windows.forEach { $0.free() } } else { data.deallocate(); output.deallocate() }
    }
    for i in 0..<total {
        switch collective {
        case .allgather: data[i] = make(i / max(block, 1) == rank ? input(rank, i) : -1)
        case .broadcast: data[i] = make(rank == root ? input(rank, i) : -1)
        default: data[i] = make(value(op, rank, i))
        }
        output[i] = make(0)
    }
    try world.perform(collective, data, output: output, op: op, root: root, algorithm: algorithm)
    for i in 0..<total {
        let want: Int?
        var got = data[i]
        switch collective {
        case .allreduce: want = expected(op, i, ranks: size)
        case .reduceScatter: want = i / block == rank ? expected(op, i, ranks: size) : nil
        case .reduce: want = rank == root ? expected(op, i, ranks: size) : nil
        case .allgather: want = input(i / block, i)
        case .broadcast: want = input(root, i)
        case .alltoall:
            // Output block j holds rank j's input block `rank`.
            want = value(op, i / block, rank * block + i % block)
            got = output[i]
        case .barrier: want = nil
        }
        if let want, got != make(want) { return "element \(i) is \(got), expected \(want)" }
    }
    return nil
}
