/// Layers applied in order. Building reports a misfit with the layer's index and shapes.
public final class Sequential: Layer {
    public private(set) var layers: [Layer]
    private var shapes: [[Int]] = []
    /// Whether each layer owns trainable parameters (known after `build`).
    private var parameterized: [Bool] = []

    public init(_ layers: [Layer]) { self.layers = layers }

    public override var kind: String { "sequential" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        var shape = input
        shapes = []
        parameterized = []
        for (index, layer) in layers.enumerated() {
            shapes.append(shape)
            let before = store.parameterCount
            do {
                shape = try layer.build(input: shape, store: store)
            } catch let error as ShapeError {
                throw ShapeError("layer \(index) (\(layer.kind)): \(error.message)")
            }
            parameterized.append(store.parameterCount > before)
        }
        return shape
    }

    /// A layer needs its input's gradient only if the sequence does or a layer before it
    /// has parameters: the first Dense after a Flatten skips a whole GEMM (a quarter of an
    /// MLP's step).
    public override var needsInputGradient: Bool {
        didSet {
            var needs = needsInputGradient
            for (index, layer) in layers.enumerated() {
                layer.needsInputGradient = needs
                if index < parameterized.count && parameterized[index] { needs = true }
            }
        }
    }

    public override func flops(input: [Int]) -> Int {
        zip(layers, shapes).reduce(0) { $0 + $1.0.flops(input: $1.1) }
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        layers.reduce(x) { $1.forward($0, training: training) }
    }

    /// Stops at the first layer (from the end) that needs no input gradient: the layers
    /// before it have no parameters, so nothing below needs a gradient.
    public override func backward(_ dy: Tensor) -> Tensor {
        var gradient = dy
        for layer in layers.reversed() {
            gradient = layer.backward(gradient)
            if !layer.needsInputGradient { break }
        }
        return gradient
    }

    public override var randomStates: [UInt64] {
        get { layers.flatMap(\.randomStates) }
        set {
            var rest = newValue[...]
            for layer in layers {
                let n = layer.randomStates.count
                layer.randomStates = Array(rest.prefix(n))
                rest = rest.dropFirst(n)
            }
        }
    }
}

/// y = x + f(x); f must keep the shape.
public final class Residual: Layer {
    public let body: Layer

    public init(_ body: Layer) { self.body = body }

    public override var kind: String { "residual" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        let output = try body.build(input: input, store: store)
        guard output == input else {
            throw ShapeError("residual body maps \(shapeText(input)) to \(shapeText(output)); it must keep the shape")
        }
        return input
    }

    public override func flops(input: [Int]) -> Int { body.flops(input: input) + input.reduce(1, *) }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        var y = body.forward(x, training: training)
        for i in y.data.indices { y.data[i] += x.data[i] }
        return y
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        var dx = body.backward(dy)
        for i in dx.data.indices { dx.data[i] += dy.data[i] }
        return dx
    }

    public override var randomStates: [UInt64] {
        get { body.randomStates }
        set { body.randomStates = newValue }
    }
}

/// Highway layer on feature vectors (Srivastava et al. 2015): y = t·h + (1 − t)·x with
/// h = ReLU(x Wₕᵀ + bₕ) and gate t = σ(x Wₜᵀ + bₜ); the gate bias starts at −1 so the
/// layer begins close to the identity.
public final class Highway: Layer {
    private var features = 0
    private var transform: ParameterStore.Slice!, transformBias: ParameterStore.Slice!
    private var gate: ParameterStore.Slice!, gateBias: ParameterStore.Slice!
    private var x: [Float] = [], h: [Float] = [], t: [Float] = [], preH: [Float] = []
    private var batch = 0

    public override var kind: String { "highway" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard input.count == 1 else { throw ShapeError("highway expects [features], got \(shapeText(input)); flatten first") }
        features = input[0]
        let bound = 1 / Float(features).squareRoot()
        transform = store.reserveParameter("highway.transform", count: features * features, .uniform(bound: bound))
        transformBias = store.reserveParameter("highway.transform_bias", count: features, .uniform(bound: bound))
        gate = store.reserveParameter("highway.gate", count: features * features, .uniform(bound: bound))
        gateBias = store.reserveParameter("highway.gate_bias", count: features, .constant(-1))
        return input
    }

    public override func flops(input: [Int]) -> Int { 2 * features * features }

    private func affine(_ input: [Float], _ w: ParameterStore.Slice, _ b: ParameterStore.Slice, n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n * features)
        let bp = store.pointer(b)
        for s in 0..<n { for j in 0..<features { out[s * features + j] = bp[j] } }
        input.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                gemm(transposeB: true, m: n, n: features, k: features, xp.baseAddress!, lda: features, store.pointer(w),
                     ldb: features, beta: 1, op.baseAddress!, ldc: features)
            }
        }
        return out
    }

    public override func forward(_ input: Tensor, training: Bool) -> Tensor {
        let n = input.batch
        batch = n
        x = input.data
        preH = affine(x, transform, transformBias, n: n)
        h = preH.map { max($0, 0) }
        t = affine(x, gate, gateBias, n: n).map { 1 / (1 + _exp(-$0)) }
        var y = input
        for i in y.data.indices { y.data[i] = t[i] * h[i] + (1 - t[i]) * x[i] }
        return y
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let n = batch
        // dL/dpreH = dy·t·1[preH>0]; dL/dpreT = dy·(h − x)·t(1 − t); dx gets both through Wᵀ plus dy·(1 − t).
        var dPreH = [Float](repeating: 0, count: dy.count), dPreT = dPreH
        for i in dy.data.indices {
            dPreH[i] = preH[i] > 0 ? dy.data[i] * t[i] : 0
            dPreT[i] = dy.data[i] * (h[i] - x[i]) * t[i] * (1 - t[i])
        }
        var dx = Tensor(shape: dy.shape, data: (0..<dy.count).map { dy.data[$0] * (1 - t[$0]) })
        for (grad, w, b) in [(dPreH, transform!, transformBias!), (dPreT, gate!, gateBias!)] {
            grad.withUnsafeBufferPointer { g in
                x.withUnsafeBufferPointer { xp in
                    gemm(transposeA: true, m: features, n: features, k: n, g.baseAddress!, lda: features, xp.baseAddress!,
                         ldb: features, beta: 1, store.gradient(w), ldc: features)
                }
                let db = store.gradient(b)
                for s in 0..<n { for j in 0..<features { db[j] += g[s * features + j] } }
                dx.data.withUnsafeMutableBufferPointer { d in
                    gemm(m: n, n: features, k: features, g.baseAddress!, lda: features, store.pointer(w), ldb: features,
                         beta: 1, d.baseAddress!, ldc: features)
                }
            }
        }
        return dx
    }
}

@inline(__always) func _exp(_ x: Float) -> Float { Float(Foundation.exp(Double(x))) }

import Foundation

/// One of K candidate layers with its own weights, of which one path is active; the
/// building block of weight-sharing supernets. Every candidate must map the input to the
/// same output shape. Inactive candidates keep their weights (and get no gradient).
public final class Choice: Layer {
    public let candidates: [Layer]
    public var active = 0
    private var inputShape: [Int] = []
    /// Each candidate's parameters in the store (contiguous: built one after another), so
    /// weight sharing across ranks can average only what a path touched.
    public private(set) var parameterRanges: [Range<Int>] = []
    /// Each candidate's slice of the non-trainable state (batch-norm statistics).
    public private(set) var stateRanges: [Range<Int>] = []

    public init(_ candidates: [Layer]) { self.candidates = candidates }

    public override var kind: String { "choice" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard !candidates.isEmpty else { throw ShapeError("choice has no candidates") }
        inputShape = input
        var output: [Int]?
        parameterRanges = []
        stateRanges = []
        for (index, candidate) in candidates.enumerated() {
            let shape: [Int]
            let first = store.parameterCount, firstState = store.stateCount
            defer {
                parameterRanges.append(first..<store.parameterCount)
                stateRanges.append(firstState..<store.stateCount)
            }
            do {
                shape = try candidate.build(input: input, store: store)
            } catch let error as ShapeError {
                throw ShapeError("candidate \(index) (\(candidate.kind)): \(error.message)")
            }
            if let output, output != shape {
                throw ShapeError("candidate \(index) (\(candidate.kind)) outputs \(shapeText(shape)) but candidate 0 outputs \(shapeText(output))")
            }
            output = shape
        }
        return output!
    }

    public override var needsInputGradient: Bool {
        didSet { candidates.forEach { $0.needsInputGradient = needsInputGradient } }
    }

    public override func flops(input: [Int]) -> Int { candidates[active].flops(input: input) }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor { candidates[active].forward(x, training: training) }

    public override func backward(_ dy: Tensor) -> Tensor { candidates[active].backward(dy) }

    public override var randomStates: [UInt64] {
        get { candidates.flatMap(\.randomStates) }
        set {
            var rest = newValue[...]
            for c in candidates {
                let n = c.randomStates.count
                c.randomStates = Array(rest.prefix(n))
                rest = rest.dropFirst(n)
            }
        }
    }
}
