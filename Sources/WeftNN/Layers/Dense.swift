/// Fully connected: y = x Wᵀ + b, W stored [out, in] as in PyTorch. Initialised as
/// PyTorch's nn.Linear: U(±1/√in) for weights and bias.
public final class Dense: Layer {
    public let outputs: Int
    private(set) var inputs = 0
    private var weight: ParameterStore.Slice!
    private var bias: ParameterStore.Slice!
    private var cachedInput = Tensor(zeros: [0])

    public init(_ outputs: Int) {
        self.outputs = outputs
    }

    public override var kind: String { "dense" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard outputs > 0 else { throw ShapeError("dense needs at least 1 output, got \(outputs)") }
        inputs = input.reduce(1, *)
        let bound = 1 / Float(max(inputs, 1)).squareRoot()
        weight = store.reserveParameter("dense.weight", count: outputs * inputs, .uniform(bound: bound))
        bias = store.reserveParameter("dense.bias", count: outputs, .uniform(bound: bound))
        return [outputs]
    }

    public override func flops(input: [Int]) -> Int { input.reduce(1, *) * outputs }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.batch
        if training { cachedInput = x }
        let w = store.pointer(weight), b = store.pointer(bias)
        return Tensor(uninitialized: [n, outputs]) { y in
            let out = y.baseAddress!
            for i in 0..<n { (out + i * outputs).update(from: b, count: outputs) }
            x.data.withUnsafeBufferPointer { xp in
                gemm(transposeB: true, m: n, n: outputs, k: inputs, xp.baseAddress!, lda: inputs, w, ldb: inputs,
                     beta: 1, out, ldc: outputs)
            }
        }
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let n = dy.batch
        let w = store.pointer(weight), dw = store.gradient(weight), db = store.gradient(bias)
        dy.data.withUnsafeBufferPointer { g in
            cachedInput.data.withUnsafeBufferPointer { x in
                // dW += dyᵀ x
                gemm(transposeA: true, m: outputs, n: inputs, k: n, g.baseAddress!, lda: outputs, x.baseAddress!,
                     ldb: inputs, beta: 1, dw, ldc: inputs)
            }
            for i in 0..<n {
                let row = g.baseAddress! + i * outputs
                for j in 0..<outputs { db[j] += row[j] }
            }
        }
        guard needsInputGradient else { return Tensor(zeros: [0]) }
        return Tensor(uninitialized: cachedInput.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                gemm(m: n, n: inputs, k: outputs, g.baseAddress!, lda: outputs, w, ldb: inputs, beta: 0,
                     dx.baseAddress!, ldc: inputs)
            }
        }
    }
}
