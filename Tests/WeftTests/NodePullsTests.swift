import Foundation
import XCTest

@testable import Weft
import WeftTopology

/// Which transfers become pulls (NodePulls' rule), and that pulls run, agree with the
/// closed forms and time out like messages on in-process ranks spread over emulated nodes.
final class NodePullsTests: XCTestCase {
    override func setUp() { Runtime.timeout = 10 }
    override func tearDown() { Runtime.timeout = 60 }

    /// The transfers of each step that become pulls, as (from, to).
    private func pulled(_ schedule: Schedule, nodeOf: [Int]) -> [[[Int]]] {
        let rule = NodePulls(nodeOf: nodeOf)
        return (0..<schedule.stepCount).map { index in
            let step = schedule.step(index)
            return rule.pulls(in: step).map { i -> [Int] in
                guard case .transfer(let from, let to, _, _, _) = step[i] else { return [] }
                return [from, to]
            }.sorted { $0.lexicographicallyPrecedes($1) }
        }
    }

    func testTwoLevelPullsInsideNodesAndSendsAcross() throws {
        let schedule = try Schedules.make(.allreduce, algorithm: .twoLevel, ranks: 4, nodes: [[0, 1], [2, 3]])
        XCTAssertEqual(pulled(schedule, nodeOf: [0, 0, 1, 1]),
                       [[[0, 1], [1, 0], [2, 3], [3, 2]], [], [], [[0, 1], [1, 0], [2, 3], [3, 2]]])
    }

    /// A ring's hop inside a node shares its step with the ranks' hops across: messages.
    func testStepsThatAlsoCrossNodesKeepMessages() throws {
        let schedule = try Schedules.make(.allreduce, algorithm: .ring, ranks: 4)
        XCTAssertEqual(pulled(schedule, nodeOf: [0, 0, 1, 1]).flatMap { $0 }, [])
    }

    /// Where no hop crosses a node, every hop of a ring pulls (the rule alone: on one node
    /// Weft runs programs on shared memory and never asks it).
    func testARingInsideOneNodePulls() throws {
        let schedule = try Schedules.make(.allreduce, algorithm: .ring, ranks: 3)
        let steps = pulled(schedule, nodeOf: [0, 0, 0])
        XCTAssert(steps.allSatisfy { $0 == [[0, 1], [1, 2], [2, 0]] }, "\(steps)")
    }

    /// Recursive doubling reduces into the chunks it sends in the same step: a pull during
    /// the step would read them half reduced, so its exchanges stay messages.
    func testAStepThatWritesWhatItSendsKeepsMessages() throws {
        let schedule = try Schedules.make(.allreduce, algorithm: .recursiveDoubling, ranks: 4)
        XCTAssertEqual(pulled(schedule, nodeOf: [0, 0, 1, 1]).flatMap { $0 }, [])
    }

    func testOneNodeOrOneRankPerNodeHasNoPulls() throws {
        let schedule = try Schedules.make(.allreduce, algorithm: .ring, ranks: 3)
        XCTAssertEqual(pulled(schedule, nodeOf: [0, 1, 2]).flatMap { $0 }, [])
    }

    /// On emulated nodes two-level pulls (process_vm_readv of this process) and gives the
    /// closed form, on every rank; the ring does not (its steps cross nodes); with
    /// WEFT_CROSS_MEMORY=0 both run as messages.
    func testPullsRunAndAgreeWithTheClosedForm() throws {
        for disabled in [false, true] {
            if disabled { setenv("WEFT_CROSS_MEMORY", "0", 1) }
            defer { unsetenv("WEFT_CROSS_MEMORY") }
            let results = try InProcessRanks<[Int]>.values(ranks: 5, nodeOfRank: [0, 0, 0, 1, 1]) { world in
                var counts: [Int] = []
                for algorithm in [Algorithm.twoLevel, .ring] {
                    let before = world.pulledTransfers
                    var x = (0..<1001).map { Float($0 % 7 + world.rank) }
                    try world.allreduce(&x, algorithm: algorithm)
                    let expected = (0..<1001).map { Float(5 * ($0 % 7) + 10) }
                    if x != expected { throw WeftError(function: "test", reason: "\(algorithm): wrong sum") }
                    counts.append(world.pulledTransfers - before)
                }
                return counts
            }
            for (rank, counts) in results.enumerated() {
                if disabled { XCTAssertEqual(counts, [0, 0], "rank \(rank)") }
                else { XCTAssert(counts[0] > 0 && counts[1] == 0, "rank \(rank) pulled \(counts)") }
            }
        }
    }

    /// Node-mates passing different counts: the rank that pulls reports the mismatch, as a
    /// message of the wrong length would (the other fails on its messages across, or times
    /// out waiting for its reader).
    func testANodeMateWithAnotherCountIsAMismatch() throws {
        Runtime.timeout = 1
        let outcomes = try InProcessRanks<Void>.outcomes(ranks: 3, nodeOfRank: [0, 0, 1]) { world in
            var x = [Float](repeating: 1, count: 64)
            try world.allreduce(&x, algorithm: .twoLevel) // set-up, on every rank alike
            var y = [Float](repeating: 1, count: 64 + (world.rank == 1 ? 6 : 0))
            try world.allreduce(&y, algorithm: .twoLevel)
        }
        XCTAssertThrowsError(try outcomes[0].get()) { error in
            let error = error as? WeftError
            XCTAssertEqual(error?.isCountMismatch, true, "\(String(describing: error))")
            XCTAssertEqual(error?.reason, "ranks passed different element counts to the same collective")
        }
        for rank in 1...2 { XCTAssertThrowsError(try outcomes[rank].get(), "rank \(rank)") }
    }

    /// A node-mate that never arrives: the rank pulling from it times out and names it.
    func testAMissingNodeMateTimesOutAndIsNamed() throws {
        Runtime.timeout = 0.5
        let outcomes = try InProcessRanks<String>.outcomes(ranks: 3, nodeOfRank: [0, 0, 1]) { world in
            var x = [Float](repeating: 1, count: 64)
            try world.allreduce(&x, algorithm: .twoLevel)
            if world.rank == 1 { return "" }
            do {
                try world.allreduce(&x, algorithm: .twoLevel)
            } catch let error as WeftError where error.isTimeout {
                return error.reason
            }
            throw WeftError(function: "test", reason: "no timeout")
        }
        XCTAssertEqual(try outcomes[0].get(),
                       "timed out waiting for rank 1 (host host-0): it, or a rank it waits for, died, hangs or was stopped, or the ranks called different collectives")
    }
}
