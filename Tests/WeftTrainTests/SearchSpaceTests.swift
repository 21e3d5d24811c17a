import Foundation
import XCTest

@testable import WeftNN
@testable import WeftTrain

final class SearchSpaceTests: XCTestCase {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/nas-space.json").path

    func space(_ stages: String, extra: String = "") throws -> SearchSpace {
        try SearchSpace(json: Data("""
            {"name": "t", "input": [1, 28, 28], "classes": 10, "stem": {"out": 8}\(extra), "stages": [\(stages)]}
            """.utf8), source: "t.json")
    }

    func error(_ stages: String, extra: String = "") -> String {
        do {
            _ = try space(stages, extra: extra)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testBadSpacesNameTheStageAndKey() {
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv7x7"]}"#),
                       "search space t.json: stage 'a' key 'ops': unknown op 'conv7x7' (known: conv3x3, conv5x5, sep3x3, sep5x5, dil3x3, skip, zero)")
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": []}"#),
                       "search space t.json: stage 'a' key 'ops': is empty: a choice needs at least one candidate op")
        XCTAssertEqual(error(#"{"name": "a", "out": 16, "stride": 2, "ops": ["conv3x3", "skip"]}"#),
                       "search space t.json: stage 'a' key 'ops': skip cannot connect 8 channels at 28×28 to 16 channels at 14×14; drop skip or use out = 8, stride 1")
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv3x3", "zero"]}"#),
                       "search space t.json: stage 'a' key 'ops': zero is added to the optional layers of a stage by itself (set layers > 1); in the first layer it would cut the network")
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv3x3"], "depth": 2}"#),
                       "search space t.json: stage 'a' key 'depth': unknown (allowed: name, out, stride, layers, ops, widths)")
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv3x3"], "widths": [0.01]}"#),
                       "search space t.json: stage 'a' key 'widths': must be positive multipliers giving at least one channel of 8")
    }

    /// Numbers are bounded before they become channel counts: converting 1e308 × out to an
    /// Int used to trap.
    func testHugeNumbersAreRefusedNotTrapped() {
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv3x3"], "widths": [1e308]}"#),
                       "search space t.json: stage 'a' key 'widths': 1e+308 × 8 channels is more than 4096; use a smaller multiplier")
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv3x3"], "widths": [600]}"#),
                       "search space t.json: stage 'a' key 'widths': 600.0 × 8 channels is more than 4096; use a smaller multiplier")
        XCTAssertEqual(error(#"{"name": "a", "out": 8, "ops": ["conv3x3"]}"#, extra: #", "widths": [1e308]"#),
                       "search space t.json: stage 'a' key 'widths': 1e+308 × 8 channels is more than 4096; use a smaller multiplier")
        XCTAssertThrowsError(try SearchSpace(json: Data(#"""
            {"input": [1, 28, 28], "classes": 10, "stem": {"out": 100000}, "stages": [{"name": "a", "out": 8, "ops": ["conv3x3"]}]}
            """#.utf8), source: "t.json")) { error in
            XCTAssertEqual("\(error)", "search space t.json: key 'stem': 'out' must be 1…4096 and 'kernel' an odd 1…255, got 100000 and 3")
        }
    }

    func testShippedSpaceAndItsSupernetAgreeOnParameters() throws {
        let space = try SearchSpace.load(SearchSpaceTests.shipped)
        let supernet = try Supernet(space: space, seed: 1)
        XCTAssertEqual(supernet.choices.count, space.blocks.count)
        // A path's parameters in the supernet (shared + its candidates) are exactly the
        // stand-alone network's: weight sharing loses nothing.
        let shared = supernet.model.parameterCount - supernet.choices.flatMap(\.parameterRanges).reduce(0) { $0 + $1.count }
        for a in [space.smallest, space.largest, space.choiceCounts.map { $0 / 2 }] {
            let alone = try Model(spec: try space.standaloneSpec(a, name: "x"), seed: 1)
            let path = shared + zip(supernet.choices, a).reduce(0) { $0 + $1.0.parameterRanges[$1.1].count }
            XCTAssertEqual(alone.parameterCount, path, space.describe(a))
        }
        XCTAssertLessThan(try Model(spec: try space.standaloneSpec(space.smallest, name: "s"), seed: 1).parameterCount,
                          try Model(spec: try space.standaloneSpec(space.largest, name: "l"), seed: 1).parameterCount)
    }

    func testSharedGradientsAreAveragedOverTheRanksThatTouchedThem() throws {
        let space = try SearchSpace.load(SearchSpaceTests.shipped)
        let supernet = try Supernet(space: space, seed: 1)
        let n = supernet.model.parameterCount
        let gradients = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { gradients.deallocate() }
        gradients.initialize(repeating: 6)
        // Block 0: candidate 0 used by 3 ranks, candidate 1 by none; others by 2.
        var counts = [Float](repeating: 2, count: space.choiceCounts.reduce(0, +))
        counts[0] = 3
        counts[1] = 0
        let mask = supernet.averageTouched(gradients: gradients, counts: counts, ranks: 4)
        let c = supernet.choices[0].parameterRanges
        XCTAssertEqual(gradients[c[0].lowerBound], 2)
        XCTAssertEqual(gradients[c[1].lowerBound], 0)
        XCTAssertFalse(mask[c[1].lowerBound])
        XCTAssertEqual(gradients[c[2].lowerBound], 3)
        XCTAssertEqual(gradients[0], 1.5) // the stem: shared by all 4 ranks
        XCTAssertTrue(mask[0])
    }

    func testKendallTau() {
        XCTAssertEqual(kendallTau([1, 2, 3, 4], [10, 20, 30, 40]), 1)
        XCTAssertEqual(kendallTau([1, 2, 3, 4], [4, 3, 2, 1]), -1)
        // 5 concordant, 1 discordant pair of 6: (5 − 1) / 6.
        XCTAssertEqual(kendallTau([1, 2, 3, 4], [1, 3, 2, 4]), 4.0 / 6.0, accuracy: 1e-12)
        // tau-b with ties: x = [1, 1, 2], y = [1, 2, 3]: pairs (0,1) tied in x only, (0,2) and
        // (1,2) concordant → 2 / √(3 · 2).
        XCTAssertEqual(kendallTau([1, 1, 2], [1, 2, 3]), 2 / 6.0.squareRoot(), accuracy: 1e-12)
    }

    func testKendallTauIntervalBracketsTheEstimateAndNarrowsWithMoreData() {
        // A perfect order stays perfect under any resample (duplicates are ties in both).
        let ordered = (0..<12).map(Double.init)
        XCTAssertEqual(kendallTauInterval(ordered, ordered), 1...1)
        // A noisy linear relation: the interval holds the point estimate, and 4× the points
        // give a clearly narrower interval (width ∝ 1/√n).
        func noisy(_ n: Int) -> ([Double], [Double]) {
            var random = SeededRandom(seed: 42)
            let x = (0..<n).map { Double($0) }
            return (x, x.map { $0 + Double(n) * 0.4 * Double(random.normal()) })
        }
        let (x, y) = noisy(20), (x4, y4) = noisy(80)
        let small = kendallTauInterval(x, y), large = kendallTauInterval(x4, y4)
        XCTAssertTrue(small.contains(kendallTau(x, y)), "\(small) vs \(kendallTau(x, y))")
        XCTAssertTrue(large.contains(kendallTau(x4, y4)))
        let ratio = (small.upperBound - small.lowerBound) / (large.upperBound - large.lowerBound)
        XCTAssertGreaterThan(ratio, 1.5)
        XCTAssertLessThan(ratio, 3)
        // Seeded: the same inputs give the same interval.
        XCTAssertEqual(kendallTauInterval(x, y), small)
    }

    func testParetoFrontKeepsOnlyNonDominated() {
        func s(_ acc: Double, _ p: Int, _ l: Double) -> ArchitectureScore {
            ArchitectureScore(architecture: [], description: "\(acc)-\(p)-\(l)", accuracy: acc, parameters: p, flops: 0,
                              latency_ms: l, comm_us: nil)
        }
        let front = EvolutionarySearch.paretoFront([s(0.9, 100, 1), s(0.8, 200, 2), s(0.95, 300, 1), s(0.85, 50, 3)])
        XCTAssertEqual(front.map(\.description), ["0.85-50-3.0", "0.9-100-1.0", "0.95-300-1.0"])
    }
}
