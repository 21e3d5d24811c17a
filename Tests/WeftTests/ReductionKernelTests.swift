import CWeft
import Numerics
import XCTest

@testable import Weft
import WeftTopology

/// The shim's vectorised kernels against plain Swift loops, for every type and operator,
/// at lengths around the vector widths and the many-source block size.
final class ReductionKernelTests: XCTestCase {
    let lengths = [0, 1, 3, 7, 8, 15, 16, 17, 1023, 2049, 5000]

    func reference<T: Numeric & Comparable>(_ a: T, _ b: T, _ op: ReduceOp) -> T {
        switch op {
        case .sum, .avg: return a + b
        case .prod: return a * b
        case .max: return Swift.max(a, b)
        case .min: return Swift.min(a, b)
        }
    }

    func checkTwoSource<T: WeftScalar & Numeric & Comparable>(_ make: (Int) -> T) {
        for op in ReduceOp.allCases {
            for n in lengths {
                var destination = (0..<n).map { make($0) }
                let source = (0..<n).map { make($0 * 7 + 3) }
                let want = zip(destination, source).map { reference($0, $1, op) }
                destination.withUnsafeMutableBufferPointer { d in
                    source.withUnsafeBufferPointer { s in ReductionKernels.reduce(d, s, op: op) }
                }
                XCTAssertEqual(destination, want, "\(T.self) \(op) n=\(n)")
            }
        }
    }

    func testTwoSourceKernelsMatchPlainLoops() {
        checkTwoSource { Float($0 % 13) - 6 }
        checkTwoSource { Double($0 % 17) * 0.5 - 3 }
        checkTwoSource { Int32($0 % 19) - 9 }
        checkTwoSource { Int64($0 % 23) - 11 }
    }

    /// weft_reduce_pair with three distinct buffers (the kernels' separate loop; in place is
    /// the loop above): what libweft-mpi.so uses to reduce MPI's send buffer with incoming data.
    func checkApart<T: WeftScalar & Numeric & Comparable>(_ make: (Int) -> T) {
        for op in ReduceOp.allCases where op != .avg {
            for n in lengths {
                let first = (0..<n).map { make($0) }, second = (0..<n).map { make($0 * 7 + 3) }
                var out = [T](repeating: make(99), count: n)
                out.withUnsafeMutableBytes { o in
                    first.withUnsafeBytes { f in
                        second.withUnsafeBytes {
                            weft_reduce_pair(o.baseAddress, f.baseAddress, $0.baseAddress, Int64(n), T.weftType.c, op.c)
                        }
                    }
                }
                XCTAssertEqual(out, zip(first, second).map { reference($0, $1, op) }, "\(T.self) \(op) n=\(n)")
            }
        }
    }

    func testPairKernelWithSeparateOperandsMatchesPlainLoops() {
        checkApart { Float($0 % 13) - 6 }
        checkApart { Double($0 % 17) * 0.5 - 3 }
        checkApart { Int32($0 % 19) - 9 }
        checkApart { Int64($0 % 23) - 11 }
    }

    func testManySourceKernelMatchesPlainLoops() {
        for sources in 1...5 {
            for n in lengths {
                let inputs = (0..<sources).map { k in (0..<n).map { Float(($0 + k * 5) % 9) * 0.25 } }
                var want = inputs[0]
                for k in 1..<sources { for i in 0..<n { want[i] += inputs[k][i] } }
                var destination = [Float](repeating: -1, count: n)
                let pointers = inputs.map { $0.withUnsafeBufferPointer { $0 } }
                destination.withUnsafeMutableBufferPointer { ReductionKernels.reduce($0, sources: pointers, op: .sum) }
                for i in 0..<n {
                    XCTAssert(destination[i].isApproximatelyEqual(to: want[i], relativeTolerance: 1e-6),
                              "\(sources) sources n=\(n) element \(i): \(destination[i]) vs \(want[i])")
                }
            }
        }
    }

    func testManySourceKernelMayReduceIntoItsFirstSource() {
        var first = (0..<3000).map { Int64($0) }
        let second = (0..<3000).map { Int64(2 * $0) }
        let third = (0..<3000).map { Int64(-$0) }
        first.withUnsafeMutableBufferPointer { f in
            let sources = [UnsafeBufferPointer(f), second.withUnsafeBufferPointer { $0 }, third.withUnsafeBufferPointer { $0 }]
            ReductionKernels.reduce(f, sources: sources, op: .max)
        }
        XCTAssertEqual(first, (0..<3000).map { Int64(2 * $0) })
    }
}

final class AlgorithmSelectorTests: XCTestCase {
    func testFirstMatchingRowWinsAndMPIIsTheFallback() {
        let selector = AlgorithmSelector(rows: [
            .init(.allreduce, ranks: 2...8, bytes: 0..<1024, .recursiveDoubling),
            .init(.allreduce, ranks: 2...8, bytes: 1024..<Int.max, .direct, needsRegistered: true),
            .init(.allreduce, ranks: 2...8, bytes: 1024..<Int.max, .ring),
        ])
        XCTAssertEqual(selector.choose(.allreduce, ranks: 4, bytes: 8, nodeLocal: true, registered: true), .recursiveDoubling)
        XCTAssertEqual(selector.choose(.allreduce, ranks: 4, bytes: 4096, nodeLocal: true, registered: true), .direct)
        XCTAssertEqual(selector.choose(.allreduce, ranks: 4, bytes: 4096, nodeLocal: true, registered: false), .ring)
        XCTAssertEqual(selector.choose(.allreduce, ranks: 4, bytes: 4096, nodeLocal: false, registered: true), .ring)
        XCTAssertEqual(selector.choose(.allreduce, ranks: 9, bytes: 8, nodeLocal: true, registered: true), .mpi)
        XCTAssertEqual(selector.choose(.broadcast, ranks: 4, bytes: 8, nodeLocal: true, registered: true), .mpi)
    }

    func testTablesMeasuredOnOneNodeGiveWayToMPIAcrossNodes() {
        for selector in [AlgorithmSelector.measured, .crossMemory] {
            XCTAssertTrue(selector.measuredOnOneNode)
            var somewhereWeft = false
            for collective in Collective.allCases {
                for shift in stride(from: 3, through: 30, by: 1) {
                    for ranks in [2, 3, 4, 16] {
                        for registered in [false, true] {
                            XCTAssertEqual(selector.choose(collective, ranks: ranks, bytes: 1 << shift, nodeLocal: false,
                                                           registered: registered), .mpi)
                            somewhereWeft = somewhereWeft || selector.choose(
                                collective, ranks: ranks, bytes: 1 << shift, nodeLocal: true, registered: registered) != .mpi
                        }
                    }
                }
            }
            XCTAssertTrue(somewhereWeft, "on one node the table picks Weft algorithms somewhere")
        }
    }

    func testPipelinedAlgorithmsSegmentLargeMessagesOnly() {
        XCTAssertEqual(Schedules.segments(for: .broadcast, algorithm: .tree, bytes: 1024, ranks: 4), 1)
        XCTAssertEqual(Schedules.segments(for: .broadcast, algorithm: .tree, bytes: 1 << 20, ranks: 4), 4)
        XCTAssertEqual(Schedules.segments(for: .broadcast, algorithm: .tree, bytes: 1 << 30, ranks: 4), 32)
        XCTAssertEqual(Schedules.segments(for: .allreduce, algorithm: .ring, bytes: 1 << 30, ranks: 4), 1)
        // Block-wise collectives keep ranks × segments ≤ 4096.
        XCTAssertEqual(Schedules.segments(for: .allgather, algorithm: .tree, bytes: 1 << 30, ranks: 1056), 2)
    }
}
