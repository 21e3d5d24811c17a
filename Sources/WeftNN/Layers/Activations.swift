import Foundation

/// max(0, x).
public final class ReLU: Layer {
    /// The last training output: its positive entries are where gradients pass.
    private var output: [Float] = []

    public override var kind: String { "relu" }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = Tensor(uninitialized: x.shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                for i in 0..<xp.count { y[i] = max(xp[i], 0) }
            }
        }
        if training { output = y.data }
        return y
    }

    /// SIMD lanes: a scalar select compiles to a branch per element, mispredicted half
    /// the time on ReLU's signs (it was 8% of an MLP step).
    public override func backward(_ dy: Tensor) -> Tensor {
        Tensor(uninitialized: dy.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                output.withUnsafeBufferPointer { y in
                    let n = g.count, lanes = 16
                    let d = UnsafeMutableRawPointer(dx.baseAddress!), gp = UnsafeRawPointer(g.baseAddress!)
                    let yp = UnsafeRawPointer(y.baseAddress!)
                    var i = 0
                    while i + lanes <= n {
                        let offset = i * MemoryLayout<Float>.stride
                        let gv = gp.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                        let yv = yp.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                        d.storeBytes(of: gv.replacing(with: 0, where: yv .<= 0), toByteOffset: offset,
                                     as: SIMD16<Float>.self)
                        i += lanes
                    }
                    while i < n {
                        dx[i] = y[i] > 0 ? g[i] : 0
                        i += 1
                    }
                }
            }
        }
    }
}

/// GELU, the exact form x·Φ(x) with the normal CDF Φ (PyTorch's default).
public final class GELU: Layer {
    private var input: [Float] = []

    public override var kind: String { "gelu" }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { input = x.data }
        return Tensor(shape: x.shape, data: x.data.map { v in v * 0.5 * (1 + erff(v / Float(2).squareRoot())) })
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        var dx = dy
        let inverseRoot2Pi: Float = 1 / (2 * Float.pi).squareRoot()
        for i in dx.data.indices {
            let v = input[i]
            let cdf = 0.5 * (1 + erff(v / Float(2).squareRoot()))
            let pdf = inverseRoot2Pi * expf(-0.5 * v * v)
            dx.data[i] *= cdf + v * pdf
        }
        return dx
    }
}

/// Inverted dropout: zeroes a fraction `rate` in training and scales the rest by 1/(1−rate).
/// Its generator state is part of checkpoints, so resumed runs drop the same units.
public final class Dropout: Layer {
    public let rate: Float
    private var random: SeededRandom
    private var mask: [Float] = []

    public init(_ rate: Float, seed: UInt64 = 0x5EED) {
        self.rate = rate
        random = SeededRandom(seed: seed)
    }

    public override var kind: String { "dropout" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        guard rate >= 0 && rate < 1 else { throw ShapeError("dropout rate must be in [0, 1), got \(rate)") }
        return try super.build(input: input, store: store)
    }

    public override var randomStates: [UInt64] {
        get { [random.state] }
        set { if let s = newValue.first { random.state = s } }
    }

    /// Gives each rank its own stream.
    public func reseed(_ seed: UInt64) { random = SeededRandom(seed: seed) }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training && rate > 0 else { return x }
        let keep = 1 / (1 - rate)
        mask = (0..<x.count).map { _ in random.unit() < rate ? 0 : keep }
        return Tensor(shape: x.shape, data: zip(x.data, mask).map { $0 * $1 })
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        guard rate > 0 else { return dy }
        return Tensor(shape: dy.shape, data: zip(dy.data, mask).map { $0 * $1 })
    }
}

/// [C, H, W] → [C·H·W].
public final class Flatten: Layer {
    private var inputShape: [Int] = []

    public override var kind: String { "flatten" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        inputShape = input
        return [input.reduce(1, *)]
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor { x.reshaped([x.batch, x.sampleSize]) }

    public override func backward(_ dy: Tensor) -> Tensor { dy.reshaped([dy.batch] + inputShape) }
}

/// Passes its input through unchanged (the `skip` op of a search space).
public final class Identity: Layer {
    public override var kind: String { "identity" }
}

/// Outputs zeros of its input's shape and passes no gradient: inside a residual block it
/// removes the block (the `zero` op, which is how a search space chooses depth).
public final class Zero: Layer {
    public override var kind: String { "zero" }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor { Tensor(zeros: x.shape) }

    public override func backward(_ dy: Tensor) -> Tensor { Tensor(zeros: dy.shape) }
}
