import Foundation
import XCTest

@testable import Weft
import WeftTopology

/// `auto`'s precedence — WEFT_ALGO, then a tuning file, then the topology's plan, then the
/// measured table — and its size ranges, which libweft-mpi.so caches per communicator.
final class AutoChoiceTests: XCTestCase {
    static let topologies = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("topologies")

    let table = AlgorithmSelector(rows: [
        .init(.allreduce, ranks: 2...64, bytes: 0..<(1 << 20), .tree),
        .init(.allreduce, ranks: 2...64, bytes: (1 << 20)..<Int.max, .ring),
    ])

    func rule(_ algorithm: Algorithm, _ low: Int, _ high: Int, _ buffers: Plan.BufferKind? = nil) -> Plan.Rule {
        Plan.Rule(collective: .allreduce, minBytes: low, maxBytes: high, algorithm: algorithm, predictedMicroseconds: 0,
                  buffers: buffers)
    }

    func testForcedBeatsTuningBeatsPlanBeatsTable() throws {
        let network = try NetworkContext(path: Self.topologies.appendingPathComponent("fat-tree-k4.toml").path, ranks: 16)
        let planned = network.plan.choose(.allreduce, bytes: 1 << 10)!
        let tuning = Plan(ranks: 16, source: "test", rules: [rule(.rabenseifner, 0, 4096)])
        func choose(_ c: AutoChoice, _ bytes: Int) -> Algorithm {
            c.choose(.allreduce, bytes: bytes, ranks: 16, nodeLocal: false, registered: false, buffers: .ordinary)
        }
        XCTAssertEqual(choose(AutoChoice(forced: .doubleTree, tuning: tuning, network: network, selector: table), 1024),
                       .doubleTree)
        XCTAssertEqual(choose(AutoChoice(forced: nil, tuning: tuning, network: network, selector: table), 1024), .rabenseifner)
        // Outside the tuning file's rules the plan decides; without a plan, the table.
        XCTAssertEqual(choose(AutoChoice(forced: nil, tuning: tuning, network: network, selector: table), 1 << 10 + 4096),
                       network.plan.choose(.allreduce, bytes: 1 << 10 + 4096))
        XCTAssertEqual(choose(AutoChoice(forced: nil, tuning: nil, network: network, selector: table), 1024), planned)
        XCTAssertEqual(choose(AutoChoice(forced: nil, tuning: nil, network: nil, selector: table), 1024), .tree)
        XCTAssertEqual(choose(AutoChoice(forced: nil, tuning: nil, network: nil, selector: table), 2 << 20), .ring)
    }

    func testTuningRulesApplyToTheirBuffers() {
        let tuning = Plan(ranks: 2, source: "test", rules: [rule(.direct, 0, 1 << 20, .registered), rule(.ring, 0, 1 << 20, .ordinary)])
        let choice = AutoChoice(forced: nil, tuning: tuning, network: nil, selector: table)
        XCTAssertEqual(choice.choose(.allreduce, bytes: 64, ranks: 2, nodeLocal: true, registered: true, buffers: .registered), .direct)
        XCTAssertEqual(choice.choose(.allreduce, bytes: 64, ranks: 2, nodeLocal: true, registered: false, buffers: .ordinary), .ring)
        // direct is skipped where ranks share no node: the table decides instead.
        XCTAssertEqual(choice.choose(.allreduce, bytes: 64, ranks: 2, nodeLocal: false, registered: true, buffers: .registered), .tree)
    }

    /// A tuning file applies at the rank count it was made for (or any, without `ranks`):
    /// elsewhere the rest of the chain decides.
    func testTuningFileAppliesAtItsRankCount() {
        let tuned = rule(.rabenseifner, 0, Int.max)
        func pick(_ fileRanks: Int, _ ranks: Int) -> Algorithm {
            AutoChoice(forced: nil, tuning: Plan(ranks: fileRanks, source: "test", rules: [tuned]), network: nil,
                       selector: table)
                .choose(.allreduce, bytes: 1024, ranks: ranks, nodeLocal: true, registered: false, buffers: .ordinary)
        }
        XCTAssertEqual(pick(4, 4), .rabenseifner)
        XCTAssertEqual(pick(0, 7), .rabenseifner)
        XCTAssertEqual(pick(4, 2), .tree)
        XCTAssertEqual(pick(2, 4), .tree)
        let ranges = AutoChoice(forced: nil, tuning: Plan(ranks: 4, source: "test", rules: [tuned]), network: nil,
                                selector: table)
            .ranges(.allreduce, ranks: 8, nodeLocal: true, registered: false, buffers: .ordinary)
        XCTAssertEqual(ranges.map(\.algorithm), [.tree, .ring])
    }

    func testRangesAgreeWithChooseAtEverySize() {
        let tuning = Plan(ranks: 4, source: "test", rules: [rule(.rabenseifner, 4096, 65536), rule(.ring, 1 << 22, Int.max)])
        let choice = AutoChoice(forced: nil, tuning: tuning, network: nil, selector: table)
        let ranges = choice.ranges(.allreduce, ranks: 4, nodeLocal: true, registered: false, buffers: .ordinary)
        XCTAssertEqual(ranges.first?.bytes.lowerBound, 0)
        XCTAssertEqual(ranges.last?.bytes.upperBound, Int.max)
        for (a, b) in zip(ranges, ranges.dropFirst()) {
            XCTAssertEqual(a.bytes.upperBound, b.bytes.lowerBound)
            XCTAssertNotEqual(a.algorithm, b.algorithm, "neighbouring ranges with one algorithm should merge")
        }
        for shift in 0..<40 {
            for bytes in [1 << shift, (1 << shift) + 1, (1 << shift) - 1] where bytes >= 0 {
                let expected = choice.choose(.allreduce, bytes: bytes, ranks: 4, nodeLocal: true, registered: false,
                                             buffers: .ordinary)
                let ranged = ranges.first { $0.bytes.contains(bytes) }?.algorithm
                XCTAssertEqual(ranged, expected, "at \(bytes) bytes")
            }
        }
    }

    func testInterleavedNodesAreThoseWithNonConsecutiveRanks() {
        XCTAssertFalse(TwoLevel.isInterleaved([[0, 1], [2, 3]]))
        XCTAssertFalse(TwoLevel.isInterleaved([[0, 1, 2], [3]]))
        XCTAssertFalse(TwoLevel.isInterleaved([[0], [1], [2]]))
        XCTAssertTrue(TwoLevel.isInterleaved([[0, 2], [1, 3]]))
        XCTAssertTrue(TwoLevel.isInterleaved([[0, 3], [1], [2]]))
        // The rule's layouts: interleaved nodes of one size.
        XCTAssertTrue(TwoLevel.isRoundRobin([[0, 2], [1, 3]]))
        XCTAssertTrue(TwoLevel.isRoundRobin([[0, 3], [1, 4], [2, 5]]))
        XCTAssertFalse(TwoLevel.isRoundRobin([[0, 3], [1], [2]]))
        XCTAssertFalse(TwoLevel.isRoundRobin([[0, 1], [2, 3]]))
        XCTAssertFalse(TwoLevel.isRoundRobin([[0, 1, 2, 3]]))
    }

    /// The layouts auto's two-level rules tell apart: equal nodes round-robin or consecutive,
    /// two uneven nodes (the layouts measured), and the rest.
    func testNodePlacementOfLayouts() {
        let cases: [([[Int]], NodePlacement)] = [
            ([[0, 2], [1, 3]], .roundRobin), ([[0, 3], [1, 4], [2, 5]], .roundRobin),
            ([[0, 1], [2, 3]], .consecutive), ([[0, 1, 2], [3, 4, 5]], .consecutive),
            ([[0, 1], [2]], .uneven), ([[0, 2], [1]], .uneven), ([[0, 1, 2], [3]], .uneven), ([[0], [1, 2]], .uneven),
            ([[0, 1], [2], [3]], .other), ([[0, 1], [2, 3, 4], [5]], .other),
            ([[0], [1]], .other), ([[0], [1], [2]], .other), ([[0, 1, 2, 3]], .other), ([[0]], .other),
        ]
        for (nodes, placement) in cases { XCTAssertEqual(TwoLevel.placement(nodes), placement, "\(nodes)") }
    }

    /// Without pulls between node-mates only the round-robin rules stand (the others were
    /// measured with pulls); the Communicator and libweft-mpi.so both go through this.
    func testWithoutPullsOnlyRoundRobinRulesApply() {
        for placement in NodePlacement.allCases {
            XCTAssertEqual(placement.ruling(pulls: true), placement)
            XCTAssertEqual(placement.ruling(pulls: false), placement == .roundRobin ? .roundRobin : .other)
        }
    }

    /// Round-robin placement across nodes: allreduce from 1 MiB goes two-level; below, on
    /// other collectives, with consecutive placement or on one node, the rest of the chain
    /// decides — and a tuning file still comes first.
    func testRoundRobinNodesRunTwoLevelAllreduceFromOneMiB() {
        let choice = AutoChoice(forced: nil, tuning: nil, network: nil, selector: .measured)
        func pick(_ collective: Collective, _ bytes: Int, nodeLocal: Bool = false, roundRobin: Bool = true,
                  _ c: AutoChoice? = nil) -> Algorithm {
            (c ?? choice).choose(collective, bytes: bytes, ranks: 4, nodeLocal: nodeLocal, registered: false,
                                 buffers: .ordinary, placement: roundRobin ? .roundRobin : .other)
        }
        for shift in 20...30 { XCTAssertEqual(pick(.allreduce, 1 << shift), .twoLevel) }
        XCTAssertEqual(pick(.allreduce, (1 << 20) - 4), .mpi)
        XCTAssertEqual(pick(.allreduce, 4 << 20, roundRobin: false), .mpi)
        XCTAssertEqual(pick(.allgather, 4 << 20), .mpi)
        XCTAssertEqual(pick(.allreduce, 4 << 20, nodeLocal: true), .direct)
        let tuned = AutoChoice(forced: nil, tuning: Plan(ranks: 4, source: "test", rules: [rule(.ring, 0, Int.max)]),
                               network: nil, selector: .measured)
        XCTAssertEqual(pick(.allreduce, 4 << 20, tuned), .ring)
    }

    /// Two-level across nodes by collective, buffer kind and placement (AutoChoice.twoLevelFrom):
    /// allreduce on registered buffers from 1 MiB consecutive and 256 KiB round-robin;
    /// and on uneven nodes from 1 MiB; allgather from 1 MiB (registered) and 2 MiB (ordinary)
    /// consecutive or uneven, 4 MiB registered round-robin, never ordinary round-robin;
    /// reduce-scatter from 256 KiB on every layout across nodes, reduce on every measured one
    /// but other layouts; broadcast from 1 MiB
    /// round-robin only; allreduce on ordinary buffers on uneven nodes, other layouts (one rank
    /// per node) and one node never.
    func testTwoLevelAcrossNodesByCollectiveBuffersAndPlacement() {
        let choice = AutoChoice(forced: nil, tuning: nil, network: nil, selector: .measured)
        func pick(_ collective: Collective, _ bytes: Int, _ layout: NodePlacement,
                  _ buffers: Plan.BufferKind = .registered, nodeLocal: Bool = false) -> Algorithm {
            choice.choose(collective, bytes: bytes, ranks: 4, nodeLocal: nodeLocal, registered: buffers == .registered,
                          buffers: buffers, placement: layout)
        }
        let cases: [(Collective, Plan.BufferKind, NodePlacement, Int?)] = [
            (.allreduce, .registered, .consecutive, 1 << 20), (.allreduce, .registered, .roundRobin, 256 << 10),
            (.allreduce, .ordinary, .roundRobin, 1 << 20), (.allreduce, .ordinary, .consecutive, nil),
            (.allgather, .registered, .consecutive, 1 << 20), (.allgather, .registered, .roundRobin, 4 << 20),
            (.allgather, .ordinary, .consecutive, 2 << 20), (.allgather, .ordinary, .roundRobin, nil),
            (.allreduce, .registered, .uneven, 1 << 20), (.allreduce, .ordinary, .uneven, nil),
            (.allgather, .registered, .uneven, 1 << 20), (.allgather, .ordinary, .uneven, 2 << 20),
            (.allreduce, .registered, .other, nil), (.allgather, .ordinary, .other, nil),
            (.reduceScatter, .registered, .consecutive, 256 << 10), (.reduceScatter, .ordinary, .roundRobin, 256 << 10),
            (.reduceScatter, .ordinary, .uneven, 256 << 10), (.reduceScatter, .registered, .other, 256 << 10),
            (.reduceScatter, .ordinary, .other, 256 << 10),
            (.reduce, .ordinary, .consecutive, 256 << 10), (.reduce, .registered, .roundRobin, 256 << 10),
            (.reduce, .registered, .uneven, 256 << 10), (.reduce, .ordinary, .other, nil),
            (.broadcast, .registered, .roundRobin, 1 << 20), (.broadcast, .ordinary, .roundRobin, 1 << 20),
            (.broadcast, .registered, .consecutive, nil), (.broadcast, .ordinary, .uneven, nil),
            (.alltoall, .registered, .consecutive, nil), (.barrier, .registered, .roundRobin, nil),
        ]
        for (collective, buffers, layout, from) in cases {
            let name = "\(collective) \(buffers) \(layout)"
            if let from {
                XCTAssertEqual(pick(collective, from, layout, buffers), .twoLevel, name)
                XCTAssertEqual(pick(collective, 64 << 20, layout, buffers), .twoLevel, name)
                XCTAssertEqual(pick(collective, from - 4, layout, buffers), .mpi, name)
                let ranges = choice.ranges(collective, ranks: 4, nodeLocal: false, registered: buffers == .registered,
                                           buffers: buffers, placement: layout)
                XCTAssertEqual(ranges.map(\.algorithm), [.mpi, .twoLevel], name)
                XCTAssertEqual(ranges.last?.bytes.lowerBound, from, name)
            } else {
                for shift in 10...30 { XCTAssertEqual(pick(collective, 1 << shift, layout, buffers), .mpi, name) }
            }
        }
        XCTAssertNotEqual(pick(.allreduce, 16 << 20, .consecutive, nodeLocal: true), .twoLevel)
        XCTAssertNotEqual(pick(.reduceScatter, 16 << 20, .other, nodeLocal: true), .twoLevel)
    }

    /// Over Weft's sockets between nodes, on equal nodes of either placement: allreduce and
    /// broadcast run two-level from 64 KiB on either buffer kind, allgather from 128 KiB placed
    /// by slot, 256 KiB (registered) or 2 MiB (ordinary) round-robin; on uneven nodes
    /// allreduce and allgather from 128 KiB; other layouts, broadcast on uneven nodes,
    /// reduce-scatter and reduce keep the rules measured over MPI's point-to-point.
    func testSocketsMoveTheThresholds() {
        let choice = AutoChoice(forced: nil, tuning: nil, network: nil, selector: .measured)
        func pick(_ collective: Collective, _ bytes: Int, _ layout: NodePlacement, _ buffers: Plan.BufferKind,
                  sockets: Bool) -> Algorithm {
            choice.choose(collective, bytes: bytes, ranks: 4, nodeLocal: false, registered: buffers == .registered,
                          buffers: buffers, placement: layout, sockets: sockets)
        }
        let cases: [(Collective, NodePlacement, Plan.BufferKind, Int)] = [
            (.allreduce, .consecutive, .registered, 64 << 10), (.allreduce, .consecutive, .ordinary, 64 << 10),
            (.allreduce, .roundRobin, .registered, 64 << 10), (.allreduce, .roundRobin, .ordinary, 64 << 10),
            (.broadcast, .consecutive, .registered, 64 << 10), (.broadcast, .consecutive, .ordinary, 64 << 10),
            (.broadcast, .roundRobin, .registered, 64 << 10), (.broadcast, .roundRobin, .ordinary, 64 << 10),
            (.allgather, .consecutive, .registered, 128 << 10), (.allgather, .consecutive, .ordinary, 128 << 10),
            (.allgather, .roundRobin, .registered, 256 << 10), (.allgather, .roundRobin, .ordinary, 2 << 20),
            (.allreduce, .uneven, .registered, 128 << 10), (.allreduce, .uneven, .ordinary, 128 << 10),
            (.allgather, .uneven, .registered, 128 << 10), (.allgather, .uneven, .ordinary, 128 << 10),
        ]
        for (collective, layout, buffers, from) in cases {
            let name = "\(collective) \(layout) \(buffers)"
            XCTAssertEqual(pick(collective, from, layout, buffers, sockets: true), .twoLevel, name)
            XCTAssertEqual(pick(collective, 64 << 20, layout, buffers, sockets: true), .twoLevel, name)
            XCTAssertEqual(pick(collective, from - 4, layout, buffers, sockets: true), .mpi, name)
            let ranges = choice.ranges(collective, ranks: 4, nodeLocal: false, registered: buffers == .registered,
                                       buffers: buffers, placement: layout, sockets: true)
            XCTAssertEqual(ranges.map(\.algorithm), [.mpi, .twoLevel], name)
            XCTAssertEqual(ranges.last?.bytes.lowerBound, from, name)
        }
        XCTAssertEqual(pick(.allreduce, 512 << 10, .consecutive, .registered, sockets: false), .mpi)
        XCTAssertEqual(pick(.broadcast, 16 << 20, .consecutive, .registered, sockets: false), .mpi)
        XCTAssertEqual(pick(.allreduce, 512 << 10, .uneven, .ordinary, sockets: false), .mpi)
        XCTAssertEqual(pick(.broadcast, 16 << 20, .uneven, .registered, sockets: true), .mpi)
        XCTAssertEqual(pick(.allreduce, 1 << 20, .other, .registered, sockets: true), .mpi)
        XCTAssertEqual(pick(.reduceScatter, 128 << 10, .consecutive, .registered, sockets: true), .mpi)
        XCTAssertEqual(pick(.reduceScatter, 256 << 10, .consecutive, .registered, sockets: true), .twoLevel)
        XCTAssertEqual(choice.choose(.allreduce, bytes: 1 << 20, ranks: 4, nodeLocal: true, registered: true,
                                     buffers: .registered, placement: .consecutive, sockets: true),
                       choice.choose(.allreduce, bytes: 1 << 20, ranks: 4, nodeLocal: true, registered: true,
                                     buffers: .registered, placement: .consecutive))
    }

    /// libweft-mpi.so caches the decision as size ranges: they switch to two-level exactly at
    /// 1 MiB where nodes interleave.
    func testRangesCarryTheInterleavedRule() {
        let choice = AutoChoice(forced: nil, tuning: nil, network: nil, selector: .crossMemory)
        let ranges = choice.ranges(.allreduce, ranks: 4, nodeLocal: false, registered: false, buffers: .ordinary,
                                   placement: .roundRobin)
        XCTAssertEqual(ranges.map(\.algorithm), [.mpi, .twoLevel])
        XCTAssertEqual(ranges.first?.bytes, 0..<(1 << 20))
        let consecutive = choice.ranges(.allreduce, ranks: 4, nodeLocal: false, registered: false, buffers: .ordinary)
        XCTAssertEqual(consecutive.map(\.algorithm), [.mpi])
    }
}
