import XCTest

@testable import WeftTopology

/// Chunk offsets and simulated times stay exact and finite up to the largest message the
/// simulator models (`Simulator.maximumBytes`); the direct product overflowed at 2^62 bytes.
final class LargeMessageTests: XCTestCase {
    func testElementOffsetsOfHugeBlocksAreExact() {
        let layout = ChunkLayout(blocks: 3, chunksPerBlock: 1000)
        // 2^61 · 999 overflows Int; ⌊2^61 · 999 / 1000⌋ (from Python's integers) does not.
        XCTAssertEqual(layout.elementOffset(ofChunk: 999, blockCount: 1 << 61), 2_303_537_166_204_480_258)
        XCTAssertEqual(layout.elementOffset(ofChunk: 2999, blockCount: 1 << 61), 6_915_223_184_631_868_162)
    }

    func testElementOffsetsMatchTheDirectFormulaOnSmallBlocks() {
        for chunksPerBlock in [1, 3, 7, 64] {
            let layout = ChunkLayout(blocks: 2, chunksPerBlock: chunksPerBlock)
            for blockCount in [0, 1, 5, 100, 1001] {
                for chunk in 0...layout.chunks {
                    let block = chunk / chunksPerBlock, sub = chunk % chunksPerBlock
                    XCTAssertEqual(layout.elementOffset(ofChunk: chunk, blockCount: blockCount),
                                   block * blockCount + blockCount * sub / chunksPerBlock)
                }
            }
        }
    }

    func testTheLargestMessageSimulatesToAFiniteTime() throws {
        let d = try Descriptor.parse("kind = \"dragonfly\"\np = 2\na = 4\nh = 2\n", file: "t.toml")
        let n = try d.build()
        let placement = try Placement.endpoints(ranks: n.endpoints, network: n, descriptor: d)
        let simulator = Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement)
        for algorithm in [Algorithm.ring, .rabenseifner, .tree] {
            let bytes = Simulator.maximumBytes
            let schedule = try Schedules.make(.allreduce, algorithm: algorithm, ranks: placement.count,
                                              segments: Schedules.segments(for: .allreduce, algorithm: algorithm, bytes: bytes,
                                                                           ranks: placement.count))
            let result = simulator.simulate(schedule, bytes: bytes)
            XCTAssertTrue(result.time_us.isFinite && result.time_us > 0, "\(algorithm): \(result.time_us)")
            // At least the bandwidth bound: 2(n−1)/n of the message through a 25 GB/s link.
            let bound = 2 * Double(placement.count - 1) / Double(placement.count) * Double(bytes) / 25e9 * 1e6
            XCTAssertGreaterThanOrEqual(result.time_us, bound * 0.999, "\(algorithm)")
        }
    }
}
