import XCTest

@testable import WeftTopology

/// `StepRuns` keeps a step per chunk as runs; a plain array of one step per chunk is the
/// oracle. Random ranges, raises and sets over a small span, so runs split, join and
/// overlap in every way.
final class StepRunsTests: XCTestCase {
    func testRunsAgreeWithOneStepPerChunk() {
        let span = -1..<40
        var generator = SplitMix(seed: 42)
        for initial in [0, -1] {
            var runs = StepRuns(initial)
            var perChunk = [Int](repeating: initial, count: span.count)
            func chunks() -> Range<Int> {
                let low = Int.random(in: span, using: &generator)
                return low..<Int.random(in: (low + 1)...span.upperBound, using: &generator)
            }
            for trial in 0..<5000 {
                let range = chunks(), step = Int.random(in: -1...30, using: &generator)
                let offset = range.lowerBound - span.lowerBound
                let indices = offset..<(offset + range.count)
                switch trial % 3 {
                case 0:
                    runs.raise(range, to: step)
                    for i in indices { perChunk[i] = max(perChunk[i], step) }
                case 1:
                    runs.set(range, to: step)
                    for i in indices { perChunk[i] = step }
                default:
                    break
                }
                let asked = chunks(), askedOffset = asked.lowerBound - span.lowerBound
                XCTAssertEqual(runs.latest(over: asked), perChunk[askedOffset..<(askedOffset + asked.count)].max(),
                               "trial \(trial): latest over \(asked)")
            }
            // Chunks outside every update keep the initial step.
            XCTAssertEqual(runs.latest(over: 1000..<2000), initial)
            XCTAssertEqual(runs.latest(over: -50 ..< -2), initial)
        }
    }
}

/// The fuzzer's seeded generator (TopologyTests.swift), so a failure replays.
extension SplitMix: RandomNumberGenerator {}
