import XCTest

@testable import WeftTopology

/// Two-level collectives: proved by the checker on even, uneven, single-rank, single-node,
/// one-rank and shuffled node layouts, every root, with and without segments; and they
/// move across nodes only what the ring's bound says.
final class TwoLevelTests: XCTestCase {
    let layouts: [[[Int]]] = [
        [[0]], [[0, 1, 2, 3]], [[0], [1], [2]], [[0, 1], [2, 3]], [[0, 1, 2], [3]], [[0, 2], [1, 3]],
        [[0], [1]], [[0, 1], [2]], [[3, 0], [2], [1, 4]], [[0, 1, 2], [3, 4, 5], [6, 7, 8]],
        [[0, 1, 2, 3], [4, 5], [6]], [[5, 1, 3], [0, 2], [4, 6, 7, 8]],
        [[0, 1], [2, 3], [4, 5], [6, 7]], [[0], [1], [2], [3]], [[0, 4], [1, 5], [2], [3, 6, 7]],
        (0..<8).map { [2 * $0, 2 * $0 + 1] }, [[0, 1], [2], [3], [4], [5]],
    ]

    func testEveryCollectiveIsProvedOnEveryLayoutAndRoot() throws {
        for nodes in layouts {
            let ranks = nodes.joined().count
            for collective in TwoLevel.collectives {
                let roots = collective.isRooted ? Array(0..<ranks) : [0]
                // Allreduce's two size classes; the pipelines' segments.
                let segmentCounts = TwoLevel.pipelines(collective) ? [1, 2, 5] : [1, 2]
                for root in roots {
                    for segments in segmentCounts {
                        let schedule = try Schedules.make(collective, algorithm: .twoLevel, ranks: ranks, root: root,
                                                          segments: segments, nodes: nodes)
                        XCTAssertEqual(schedule.root, collective.isRooted ? root : 0)
                        XCTAssertNoThrow(try ScheduleChecker.check(schedule),
                                         "two-level \(collective) on \(nodes), root \(root), \(segments) segments")
                    }
                }
            }
        }
    }

    func testAlltoallAndBarrierAreRefusedWithTheServedList() {
        XCTAssertThrowsError(try Schedules.make(.alltoall, algorithm: .twoLevel, ranks: 2, nodes: [[0], [1]])) {
            XCTAssertEqual("\($0)", "algorithm 'two-level' cannot run alltoall; it serves: allreduce, reduce-scatter, allgather, broadcast, reduce")
        }
    }

    /// Chunks a schedule moves between ranks of different nodes, per sending node.
    private func chunksAcross(_ schedule: Schedule, _ nodes: [[Int]]) -> [Int] {
        var nodeOf = [Int: Int]()
        for (n, node) in nodes.enumerated() { for r in node { nodeOf[r] = n } }
        var sent = [Int](repeating: 0, count: nodes.count)
        for i in 0..<schedule.stepCount {
            for case .transfer(let from, let to, let source, _, _) in schedule.step(i) where nodeOf[from] != nodeOf[to] {
                sent[nodeOf[from]!] += source.count
            }
        }
        return sent
    }

    func testEachNodeSendsAcrossWhatTheRingBoundSays() throws {
        // 2 nodes of 2 ranks: 4 blocks of 2 shards = 8 chunks; each node sends the other
        // node's half once, split over its 2 ranks.
        let nodes = [[0, 2], [1, 3]]
        for collective in [Collective.reduceScatter, .allgather] {
            let schedule = try TwoLevel.make(collective, nodes: nodes)
            XCTAssertEqual(schedule.layout.chunks, 8)
            XCTAssertEqual(chunksAcross(schedule, nodes), [4, 4], "\(collective)")
            XCTAssertEqual(schedule.stepCount, 2, "\(collective): one step inside, one across")
        }
        // Broadcast and reduce: the whole message (S·P chunks) crosses each hop of the chain once.
        let broadcast = try TwoLevel.make(.broadcast, nodes: nodes, root: 3, segments: 3)
        XCTAssertEqual(chunksAcross(broadcast, nodes), [0, 6])
        let reduce = try TwoLevel.make(.reduce, nodes: nodes, root: 3, segments: 3)
        XCTAssertEqual(chunksAcross(reduce, nodes), [6, 0])
    }

    func testAllreduceAcrossIsChosenBySizeAndNodeCount() throws {
        // Below 512 KiB (size class 1), (nodes of 2 ranks, steps across): 4 and 8 nodes halve
        // and double, 2·log₂N steps; 2, 3 and 5 nodes ring, 2(N−1) steps. From 512 KiB
        // (class 2) always the ring. One step inside on either side.
        XCTAssertEqual(Schedules.segments(for: .allreduce, algorithm: .twoLevel, bytes: (512 << 10) - 4, ranks: 8), 1)
        XCTAssertEqual(Schedules.segments(for: .allreduce, algorithm: .twoLevel, bytes: 512 << 10, ranks: 8), 2)
        for (count, halving, ring) in [(2, 2, 2), (3, 4, 4), (4, 4, 6), (5, 8, 8), (8, 6, 14)] {
            let nodes = (0..<count).map { [2 * $0, 2 * $0 + 1] }
            for (segments, across) in [(1, halving), (2, ring)] {
                let schedule = try TwoLevel.make(.allreduce, nodes: nodes, segments: segments)
                XCTAssertEqual(schedule.stepCount, 1 + across + 1, "\(count) nodes, class \(segments)")
                // Each node sends 2(N−1)/N of the message across: the bound, either way.
                let perNode = 2 * (count - 1) * schedule.layout.chunks / count
                XCTAssertEqual(chunksAcross(schedule, nodes), [Int](repeating: perNode, count: count), "\(count) nodes")
            }
        }
    }

    func testOneNodeIsOneDirectStepAndOneRankPerNodeIsThePlainRing() throws {
        // One node: reduce-scatter and allgather are a single step, one range per peer.
        for collective in [Collective.reduceScatter, .allgather] {
            let schedule = try TwoLevel.make(collective, nodes: [[0, 1, 2, 3]])
            XCTAssertEqual(schedule.stepCount, 1)
            XCTAssertEqual(schedule.step(0).count, 12, "\(collective): each rank sends each peer one range")
        }
        // One rank per node, size class 2: N − 1 ring steps of one transfer per rank; class 1
        // on 4 nodes: log₂4 = 2 halving steps, the first moving two pieces per rank as one
        // range.
        let ring = try TwoLevel.make(.reduceScatter, nodes: [[0], [1], [2], [3]], segments: 2)
        XCTAssertEqual(ring.stepCount, 3)
        XCTAssertTrue((0..<3).allSatisfy { ring.step($0).count == 4 })
        let halving = try TwoLevel.make(.reduceScatter, nodes: [[0], [1], [2], [3]], segments: 1)
        XCTAssertEqual(halving.stepCount, 2)
        XCTAssertEqual(halving.step(0).count, 4)
        XCTAssertTrue(halving.step(0).allSatisfy {
            if case .transfer(_, _, let source, _, _) = $0 { return source.count == 2 }
            return false
        })
        // Pipelined chain: segment g follows g − 1 one step behind.
        let chain = try TwoLevel.make(.broadcast, nodes: [[0], [1], [2], [3]], root: 2, segments: 4)
        XCTAssertEqual(chain.stepCount, 3 + 4 - 1)
        XCTAssertEqual(try TwoLevel.make(.allgather, nodes: [[0]]).stepCount, 0)
    }

    func testReduceScatterAndAllgatherHalveAcrossBelow512KiB() throws {
        XCTAssertEqual(Schedules.segments(for: .reduceScatter, algorithm: .twoLevel, bytes: 64 << 10, ranks: 8), 1)
        XCTAssertEqual(Schedules.segments(for: .allgather, algorithm: .twoLevel, bytes: 4 << 20, ranks: 8), 2)
        // (nodes of 2 ranks, steps across by size class 1 and 2); one step inside either way,
        // and each node sends (N−1)/N of the message across either way.
        for (count, halving, ring) in [(3, 2, 2), (4, 2, 3), (8, 3, 7)] {
            let nodes = (0..<count).map { [2 * $0, 2 * $0 + 1] }
            for collective in [Collective.reduceScatter, .allgather] {
                for (segments, across) in [(1, halving), (2, ring)] {
                    let schedule = try TwoLevel.make(collective, nodes: nodes, segments: segments)
                    XCTAssertEqual(schedule.stepCount, 1 + across, "\(collective), \(count) nodes, class \(segments)")
                    let perNode = (count - 1) * schedule.layout.chunks / count
                    XCTAssertEqual(chunksAcross(schedule, nodes), [Int](repeating: perNode, count: count))
                }
            }
        }
    }

    func testOneSegmentGoesAcrossInABinomialTreeSeveralInAChain() throws {
        // 8 nodes of one rank: a tree of ⌈log₂8⌉ = 3 steps for one segment, the chain's
        // 7 + (2 − 1) for two; 5 nodes: 3 steps. Each non-root node receives once either way.
        for (count, steps) in [(8, 3), (5, 3), (3, 2), (2, 1)] {
            let nodes = (0..<count).map { [$0] }
            for root in [0, count - 1] {
                let tree = try TwoLevel.make(.broadcast, nodes: nodes, root: root, segments: 1)
                XCTAssertEqual(tree.stepCount, steps, "broadcast, \(count) nodes, root \(root)")
                XCTAssertEqual(try TwoLevel.make(.reduce, nodes: nodes, root: root, segments: 1).stepCount, steps)
                let received = (0..<tree.stepCount).flatMap { tree.step($0) }.compactMap { operation -> Int? in
                    if case .transfer(_, let to, _, _, _) = operation { return to }
                    return nil
                }
                XCTAssertEqual(received.sorted(), (0..<count).filter { $0 != root }, "\(count) nodes, root \(root)")
            }
        }
        XCTAssertEqual(try TwoLevel.make(.broadcast, nodes: (0..<8).map { [$0] }, root: 0, segments: 2).stepCount, 7 + 1)
        // Nodes of two ranks: one step inside on each side of the tree.
        let pairs = (0..<8).map { [2 * $0, 2 * $0 + 1] }
        XCTAssertEqual(try TwoLevel.make(.broadcast, nodes: pairs, root: 5, segments: 1).stepCount, 1 + 3 + 1)
        XCTAssertEqual(try TwoLevel.make(.reduce, nodes: pairs, root: 5, segments: 1).stepCount, 1 + 3 + 1)
    }

    func testBroadcastAndReducePipelineLargeMessages() {
        XCTAssertGreaterThan(Schedules.segments(for: .broadcast, algorithm: .twoLevel, bytes: 4 << 20, ranks: 4), 1)
        XCTAssertGreaterThan(Schedules.segments(for: .reduce, algorithm: .twoLevel, bytes: 4 << 20, ranks: 4), 1)
        XCTAssertFalse(TwoLevel.pipelines(.allgather))
    }

    func testTheSimulatorReplaysEveryCollective() throws {
        let d = try Descriptor.parse("kind = \"fat-tree\"\nk = 4\n", file: "t.toml")
        let n = try d.build()
        let placement = try Placement.endpoints(ranks: 8, network: n, descriptor: d)
        let simulator = Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement)
        let nodes = [[0, 1], [2, 3], [4, 5], [6, 7]]
        for collective in TwoLevel.collectives {
            let schedule = try TwoLevel.make(collective, nodes: nodes, root: 5, segments: 4)
            let result = simulator.simulate(schedule, bytes: 1 << 20)
            XCTAssertEqual(result.steps, schedule.stepCount, "\(collective)")
            XCTAssertTrue(result.time_us > 0 && result.time_us.isFinite, "\(collective): \(result.time_us) µs")
        }
    }

    func testChunkTransfersMergeRunsInFirstAddedOrder() {
        var transfers = ChunkTransfers()
        transfers.add(from: 1, to: 0, chunk: 5, reduce: true)
        transfers.add(from: 0, to: 1, chunk: 2, count: 2, reduce: false)
        transfers.add(from: 1, to: 0, chunk: 3, count: 2, reduce: true)
        transfers.add(from: 1, to: 0, chunk: 8, reduce: true)
        XCTAssertEqual(transfers.operations, [
            .transfer(from: 1, to: 0, source: ChunkRange(3, count: 3), destination: ChunkRange(3, count: 3), reduce: true),
            .transfer(from: 1, to: 0, source: ChunkRange(8, count: 1), destination: ChunkRange(8, count: 1), reduce: true),
            .transfer(from: 0, to: 1, source: ChunkRange(2, count: 2), destination: ChunkRange(2, count: 2), reduce: false),
        ])
    }
}
