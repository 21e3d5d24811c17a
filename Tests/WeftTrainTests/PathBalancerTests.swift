import XCTest

@testable import WeftNN
@testable import WeftTrain

/// Balanced paths: each rank's draw stays uniform, ranks get distinct candidates of
/// neighbouring cost.
final class PathBalancerTests: XCTestCase {
    let costs: [[Double]] = [[5, 1, 9, 3, 7, 2, 8], [4, 4, 1], [2, 6]]

    func testCycleVisitsEveryCandidateOnceWithNeighboursAtMostTwoCostPlacesApart() {
        let balancer = PathBalancer(costs: costs)
        XCTAssertEqual(balancer.cycles[0], [1, 3, 4, 2, 6, 0, 5])  // costs 1,3,7,9 up, then 8,5,2 down
        for (cycle, blockCosts) in zip(balancer.cycles, costs) {
            XCTAssertEqual(cycle.sorted(), Array(blockCosts.indices))
            let place = Dictionary(uniqueKeysWithValues: blockCosts.indices
                .sorted { (blockCosts[$0], $0) < (blockCosts[$1], $1) }.enumerated().map { ($1, $0) })
            for i in cycle.indices {
                XCTAssertLessThanOrEqual(abs(place[cycle[i]]! - place[cycle[(i + 1) % cycle.count]]!), 2)
            }
        }
    }

    /// Over many steps every rank sees every candidate ≈ 1/k of the time, and two ranks
    /// never share a candidate in a block that has at least two.
    func testEachRankSamplesUniformlyAndRanksDiffer() {
        let balancer = PathBalancer(costs: costs)
        let steps = 14_000
        var counts = costs.map { [[Int]](repeating: [Int](repeating: 0, count: $0.count), count: 3) }
        for step in 0..<steps {
            let paths = (0..<3).map { rank -> [Int] in
                var shared = SeededRandom(seed: 11).derived(UInt64(step))
                return balancer.path(rank: rank, shared: &shared)
            }
            for (block, cycle) in balancer.cycles.enumerated() {
                let chosen = paths.map { $0[block] }
                if cycle.count >= 3 { XCTAssertEqual(Set(chosen).count, 3) }
                for (rank, c) in chosen.enumerated() { counts[block][rank][c] += 1 }
            }
        }
        for (block, perRank) in counts.enumerated() {
            let expected = Double(steps) / Double(costs[block].count)
            for (rank, hits) in perRank.enumerated() {
                for (candidate, n) in hits.enumerated() {
                    XCTAssertEqual(Double(n), expected, accuracy: 5 * expected.squareRoot(),
                                   "block \(block) rank \(rank) candidate \(candidate)")
                }
            }
        }
    }
}
