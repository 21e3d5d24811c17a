import XCTest

@testable import WeftNN

/// Conv2D's three code paths (im2col + GEMM in chunks, direct depthwise, per-sample
/// pointwise GEMM) against the convolution sum written out loop by loop.
final class ConvolutionReferenceTests: XCTestCase {
    /// y[s, o, oy, ox] = b[o] + Σ_{c in o's group, ki, kj} w[o, c, ki, kj] · x[s, c, oy·stride − pad + ki·dil, …].
    func reference(_ conv: Conv2D, _ store: ParameterStore, _ x: Tensor, outShape: [Int]) -> [Float] {
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, oh, ow) = (outShape[0], outShape[1], outShape[2])
        let k = conv.kernel, cg = cin / conv.groups, og = cout / conv.groups
        let weights = Array(store.values[0..<(cout * cg * k * k)])
        let bias = Array(store.values[(cout * cg * k * k)..<(cout * cg * k * k + cout)])
        var y = [Float](repeating: 0, count: n * cout * oh * ow)
        for s in 0..<n {
            for o in 0..<cout {
                let group = o / og
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var total = Double(bias[o])
                        for c in 0..<cg {
                            for ki in 0..<k {
                                for kj in 0..<k {
                                    let iy = oy * conv.stride - conv.padding + ki * conv.dilation
                                    let ix = ox * conv.stride - conv.padding + kj * conv.dilation
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    let input = x.data[((s * cin + group * cg + c) * h + iy) * w + ix]
                                    total += Double(weights[((o * cg + c) * k + ki) * k + kj]) * Double(input)
                                }
                            }
                        }
                        y[((s * cout + o) * oh + oy) * ow + ox] = Float(total)
                    }
                }
            }
        }
        return y
    }

    func assertMatchesReference(_ conv: Conv2D, input shape: [Int], batch: Int = 3, file: StaticString = #filePath,
                                line: UInt = #line) throws {
        let store = ParameterStore()
        let outShape = try conv.build(input: shape, store: store)
        store.allocate(seed: 3)
        var random = SeededRandom(seed: 5)
        let x = Tensor(shape: [batch] + shape, data: (0..<(batch * shape.reduce(1, *))).map { _ in random.normal() })
        let y = conv.forward(x, training: true)
        let expected = reference(conv, store, x, outShape: outShape)
        XCTAssertEqual(y.shape, [batch] + outShape, file: file, line: line)
        let worst = zip(y.data, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4, "conv k\(conv.kernel) s\(conv.stride) groups \(conv.groups)", file: file, line: line)
    }

    func testDepthwise() throws {
        try assertMatchesReference(Conv2D(4, kernel: 3, padding: 1, groups: 4), input: [4, 7, 7])
        try assertMatchesReference(Conv2D(3, kernel: 5, stride: 2, padding: 2, groups: 3), input: [3, 14, 13])
        try assertMatchesReference(Conv2D(2, kernel: 3, padding: 2, dilation: 2, groups: 2), input: [2, 6, 9])
    }

    func testPointwise() throws {
        try assertMatchesReference(Conv2D(6, kernel: 1), input: [4, 5, 3])
    }

    func testIm2colInChunks() throws {
        for budget in [1, 200, 1 << 20] {
            let conv = Conv2D(5, kernel: 5, stride: 2, padding: 2)
            conv.columnBudget = budget
            try assertMatchesReference(conv, input: [3, 9, 9], batch: 5)
        }
        try assertMatchesReference(Conv2D(4, kernel: 3, padding: 1, groups: 2), input: [6, 5, 5])
    }
}
