import XCTest

@testable import WeftNN

/// Every layer's backward pass against central finite differences of its forward pass,
/// for the input gradient and for sampled parameter gradients.
final class GradientCheckTests: XCTestCase {
    /// loss(x) = Σ r·layer(x) for a fixed random r; checks d loss/dx and d loss/dθ.
    func check(_ make: () -> Layer, input shape: [Int], batch: Int = 3, seed: UInt64 = 1, file: StaticString = #filePath,
               line: UInt = #line) throws {
        let layer = make()
        let store = ParameterStore()
        let outShape = try layer.build(input: shape, store: store)
        store.allocate(seed: seed)
        var random = SeededRandom(seed: seed + 100)
        let x = Tensor(shape: [batch] + shape, data: (0..<(batch * shape.reduce(1, *))).map { _ in random.normal() })
        let r = (0..<(batch * outShape.reduce(1, *))).map { _ in random.normal() }
        let states = layer.randomStates
        func loss(_ input: Tensor) -> Double {
            layer.randomStates = states
            let y = layer.forward(input, training: true)
            return zip(y.data, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss(x)
        store.zeroGradients()
        layer.randomStates = states
        _ = layer.forward(x, training: true)
        let dx = layer.backward(Tensor(shape: [batch] + outShape, data: r))
        let analyticParameters = Array(store.gradients)
        let eps: Float = 1e-2
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 3e-3 + 3e-2 * max(abs(a), abs(b)) }
        for i in stride(from: 0, to: x.count, by: max(1, x.count / 40)) {
            var plus = x, minus = x
            plus.data[i] += eps
            minus.data[i] -= eps
            let numeric = (loss(plus) - loss(minus)) / Double(2 * eps)
            XCTAssert(close(numeric, Double(dx.data[i])), "\(layer.kind) dx[\(i)]: numeric \(numeric), analytic \(dx.data[i])",
                      file: file, line: line)
        }
        for i in stride(from: 0, to: store.parameterCount, by: max(1, store.parameterCount / 40)) {
            let saved = store.values[i]
            store.values[i] = saved + eps
            let up = loss(x)
            store.values[i] = saved - eps
            let down = loss(x)
            store.values[i] = saved
            let numeric = (up - down) / Double(2 * eps)
            XCTAssert(close(numeric, Double(analyticParameters[i])),
                      "\(layer.kind) dθ[\(i)]: numeric \(numeric), analytic \(analyticParameters[i])", file: file, line: line)
        }
    }

    func testDense() throws { try check({ Dense(5) }, input: [7]) }
    func testConv2D() throws { try check({ Conv2D(4, kernel: 3, padding: 1) }, input: [2, 5, 5]) }
    func testConv2DStridedDilated() throws { try check({ Conv2D(3, kernel: 3, stride: 2, padding: 2, dilation: 2) }, input: [2, 7, 6]) }
    func testDepthwiseConv2D() throws { try check({ Conv2D(4, kernel: 3, padding: 1, groups: 4) }, input: [4, 5, 5]) }
    func testDepthwiseConv2DStridedDilated() throws {
        try check({ Conv2D(3, kernel: 5, stride: 2, padding: 3, groups: 3) }, input: [3, 9, 8])
        try check({ Conv2D(2, kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 2) }, input: [2, 6, 7])
    }
    func testPointwiseConv2D() throws { try check({ Conv2D(5, kernel: 1) }, input: [3, 4, 4]) }
    /// One sample per im2col chunk: the backward pass rebuilds each chunk's columns.
    func testConv2DInChunks() throws {
        try check({
            let conv = Conv2D(4, kernel: 3, stride: 2, padding: 1)
            conv.columnBudget = 1
            return conv
        }, input: [2, 5, 5])
    }
    func testGroupedConv2D() throws { try check({ Conv2D(4, kernel: 1, groups: 2) }, input: [6, 3, 3]) }
    func testMaxPool() throws { try check({ Pool2D(.max, kernel: 2) }, input: [2, 4, 6]) }
    func testAvgPool() throws { try check({ Pool2D(.average, kernel: 3, stride: 2) }, input: [2, 7, 7]) }
    func testGlobalAveragePool() throws { try check({ GlobalAveragePool() }, input: [3, 4, 4]) }
    func testBatchNormImages() throws { try check({ BatchNorm() }, input: [3, 4, 4], batch: 4) }
    func testBatchNormFeatures() throws { try check({ BatchNorm() }, input: [6], batch: 5) }
    func testLayerNorm() throws { try check({ LayerNorm() }, input: [9]) }
    func testReLU() throws { try check({ ReLU() }, input: [11]) }
    func testGELU() throws { try check({ GELU() }, input: [11]) }
    func testDropout() throws { try check({ Dropout(0.3, seed: 9) }, input: [20]) }
    func testResidual() throws { try check({ Residual(Sequential([Dense(6), GELU(), Dense(6)])) }, input: [6]) }
    func testHighway() throws { try check({ Highway() }, input: [6]) }
    func testChoiceUsesOnlyTheActivePath() throws {
        try check({
            let c = Choice([Conv2D(3, kernel: 3, padding: 1), Conv2D(3, kernel: 5, padding: 2)])
            c.active = 1
            return c
        }, input: [2, 5, 5])
    }
    /// Smooth activations here: a finite step across a ReLU or max-pool kink in a deep
    /// composition measures the kink, not the gradient (each is checked alone above).
    func testSequentialCNN() throws {
        try check({ Sequential([Conv2D(3, kernel: 3, padding: 1), GELU(), Pool2D(.average, kernel: 2), Flatten(), Dense(4)]) },
                  input: [1, 6, 6])
    }

    func testCrossEntropyGradient() {
        var random = SeededRandom(seed: 3)
        let logits = Tensor(shape: [4, 5], data: (0..<20).map { _ in random.normal() })
        let labels: [Int32] = [0, 3, 4, 1]
        let (_, g) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        for i in 0..<20 {
            var plus = logits, minus = logits
            plus.data[i] += 1e-2
            minus.data[i] -= 1e-2
            let numeric = (CrossEntropy.lossAndGradient(logits: plus, labels: labels).loss
                - CrossEntropy.lossAndGradient(logits: minus, labels: labels).loss) / 2e-2
            XCTAssertEqual(numeric, g.data[i], accuracy: 2e-3)
        }
    }

    func testKLDivergenceGradientAndTemperatureScaling() {
        var random = SeededRandom(seed: 4)
        let student = Tensor(shape: [3, 4], data: (0..<12).map { _ in random.normal() })
        let teacher = Tensor(shape: [3, 4], data: (0..<12).map { _ in random.normal() })
        for t: Float in [1, 4] {
            let (_, g) = KLDivergence.lossAndGradient(student: student, teacher: teacher, temperature: t)
            for i in 0..<12 {
                var plus = student, minus = student
                plus.data[i] += 1e-2
                minus.data[i] -= 1e-2
                let numeric = (KLDivergence.lossAndGradient(student: plus, teacher: teacher, temperature: t).loss
                    - KLDivergence.lossAndGradient(student: minus, teacher: teacher, temperature: t).loss) / 2e-2
                XCTAssertEqual(numeric, g.data[i], accuracy: 3e-3, "T=\(t) i=\(i)")
            }
        }
        XCTAssertEqual(KLDivergence.lossAndGradient(student: student, teacher: student, temperature: 2).loss, 0, accuracy: 1e-6)
    }
}
