import XCTest

@testable import WeftTopology

/// Every generator, every collective it serves, every rank count 1…64: the symbolic
/// checker must prove the schedule. And the checker must catch broken schedules.
final class ScheduleCheckerTests: XCTestCase {
    func testEveryGeneratorIsProvedOnOneToSixtyFourRanks() throws {
        for algorithm in Algorithm.concrete where algorithm.isScheduled && !algorithm.needsNodeLayout {
            for collective in Schedules.collectives(servedBy: algorithm) {
                for ranks in 1...64 {
                    let root = collective.isRooted ? (ranks * 7 / 10) : 0
                    let schedule = try Schedules.make(collective, algorithm: algorithm, ranks: ranks, root: root)
                    XCTAssertNoThrow(try ScheduleChecker.check(schedule), "\(algorithm) \(collective) \(ranks)")
                }
            }
        }
    }

    func testTwoLevelIsProvedOnEvenUnevenAndSingleRankNodes() throws {
        let layouts: [[[Int]]] = [
            [[0]], [[0, 1, 2, 3]], [[0], [1]], [[0, 1], [2, 3]], [[0, 1], [2]], [[0, 1, 2], [3]],
            [[0, 2], [1, 3]], [[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0], [1], [2], [3], [4]], [[0, 1, 2, 3], [4, 5], [6]],
        ]
        for nodes in layouts {
            let schedule = try TwoLevel.make(.allreduce, nodes: nodes)
            XCTAssertNoThrow(try ScheduleChecker.check(schedule), "two-level on \(nodes)")
        }
        XCTAssertThrowsError(try TwoLevel.make(.allreduce, nodes: [[0, 1], [1]]))
        XCTAssertThrowsError(try TwoLevel.make(.alltoall, nodes: [[0, 1]]))
        XCTAssertEqual(TwoLevel.nodes(fromKeys: [0, 0, 2, 2, 0]), [[0, 1, 4], [2, 3]])
    }

    func testPipelinedSchedulesAreProved() throws {
        for algorithm in [Algorithm.tree, .doubleTree, .ring] {
            for collective in Schedules.collectives(servedBy: algorithm) {
                for ranks in [1, 2, 3, 5, 8, 13, 24] {
                    for segments in [2, 3, 8] {
                        let root = collective.isRooted ? ranks - 1 : 0
                        let schedule = try Schedules.make(collective, algorithm: algorithm, ranks: ranks, root: root,
                                                          segments: segments)
                        XCTAssertNoThrow(try ScheduleChecker.check(schedule),
                                         "\(algorithm) \(collective) \(ranks) ranks \(segments) segments")
                    }
                }
            }
        }
    }

    func testCheckerCatchesAMissingTransfer() throws {
        var schedule = try Schedules.make(.allreduce, algorithm: .ring, ranks: 4).materialized()
        schedule.steps[1].removeLast()
        XCTAssertThrowsError(try ScheduleChecker.check(schedule)) { error in
            XCTAssertTrue("\(error)".contains("ring allreduce on 4 ranks: rank"), "\(error)")
        }
    }

    func testCheckerCatchesDoubleCounting() throws {
        var schedule = try Schedules.make(.allreduce, algorithm: .recursiveDoubling, ranks: 4)
        schedule.steps.insert(schedule.steps[0], at: 1)
        XCTAssertThrowsError(try ScheduleChecker.check(schedule)) { error in
            XCTAssertTrue("\(error)".contains("counts a contribution twice"), "\(error)")
        }
    }

    func testCheckerCatchesARace() throws {
        // A copy into a chunk that the same rank sends in the same step.
        let schedule = Schedule(
            collective: .allgather, algorithm: .ring, ranks: 2, layout: ChunkLayout(blocks: 2, chunksPerBlock: 1),
            steps: [[
                .transfer(from: 0, to: 1, source: ChunkRange(0, count: 1), destination: ChunkRange(0, count: 1), reduce: false),
                .transfer(from: 1, to: 0, source: ChunkRange(0, count: 1), destination: ChunkRange(0, count: 1), reduce: false),
            ]])
        XCTAssertThrowsError(try ScheduleChecker.check(schedule)) { error in
            XCTAssertTrue("\(error)".contains("race"), "\(error)")
        }
    }

    func testCheckerCatchesAnEarlyBarrierExit() throws {
        var schedule = try Schedules.make(.barrier, algorithm: .recursiveDoubling, ranks: 5)
        schedule.steps.removeLast()
        XCTAssertThrowsError(try ScheduleChecker.check(schedule)) { error in
            XCTAssertTrue("\(error)".contains("leaves the barrier before hearing from"), "\(error)")
        }
    }

    func testUnsupportedRequestsNameWhatIsServed() {
        XCTAssertThrowsError(try Schedules.make(.alltoall, algorithm: .tree, ranks: 4)) { error in
            XCTAssertEqual("\(error)", "algorithm 'tree' cannot run alltoall; it serves: allreduce, reduce-scatter, "
                + "allgather, broadcast, reduce, barrier")
        }
        XCTAssertThrowsError(try Schedules.make(.broadcast, algorithm: .ring, ranks: 4, root: 4)) { error in
            XCTAssertEqual("\(error)", "root 4 is not a rank of a 4-rank communicator (use 0…3)")
        }
    }

    func testStepCountsMatchTheTextbook() throws {
        // Ring allreduce: 2(n−1) steps; recursive doubling on 2^k: k; Rabenseifner: 2k.
        XCTAssertEqual(try Schedules.make(.allreduce, algorithm: .ring, ranks: 8).stepCount, 14)
        XCTAssertEqual(try Schedules.make(.allreduce, algorithm: .recursiveDoubling, ranks: 8).stepCount, 3)
        XCTAssertEqual(try Schedules.make(.allreduce, algorithm: .rabenseifner, ranks: 8).stepCount, 6)
        XCTAssertEqual(try Schedules.make(.allreduce, algorithm: .recursiveDoubling, ranks: 6).stepCount, 4)
        XCTAssertEqual(try Schedules.make(.broadcast, algorithm: .tree, ranks: 8).stepCount, 3)
        // Pipelined binomial broadcast: segments + depth − 1 steps.
        XCTAssertEqual(try Schedules.make(.broadcast, algorithm: .tree, ranks: 8, segments: 4).stepCount, 6)
        XCTAssertEqual(try Schedules.make(.allreduce, algorithm: .direct, ranks: 8).stepCount, 1)
    }

    func testChunkLayoutCoversEveryElementOnce() {
        for count in [0, 1, 3, 7, 64, 1001] {
            for (blocks, cpb) in [(1, 1), (1, 5), (3, 1), (4, 3)] {
                let layout = ChunkLayout(blocks: blocks, chunksPerBlock: cpb)
                var previous = 0
                for c in 1...layout.chunks {
                    let offset = layout.elementOffset(ofChunk: c, blockCount: count)
                    XCTAssertGreaterThanOrEqual(offset, previous)
                    previous = offset
                }
                XCTAssertEqual(previous, blocks * count)
            }
        }
    }
}
