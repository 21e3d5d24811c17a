/// Batch normalisation per channel ([C, H, W]) or per feature ([F]). Training uses the
/// batch's statistics and updates running ones (momentum 0.1, unbiased variance, as
/// PyTorch); evaluation uses the running statistics.
public final class BatchNorm: Layer {
    public let epsilon: Float = 1e-5
    /// Weight of the newest batch in the running statistics (1/i recalibrates to a plain mean).
    public var momentum: Float = 0.1
    private var channels = 0, spatial = 1, batch = 0
    private var gamma: ParameterStore.Slice!
    private var beta: ParameterStore.Slice!
    private var runningMean: ParameterStore.Slice!
    private var runningVariance: ParameterStore.Slice!
    private var normalized: [Float] = []
    private var inverseStd: [Float] = []

    public override var kind: String { "batchnorm" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard input.count == 1 || input.count == 3 else {
            throw ShapeError("batchnorm expects [features] or [channels, height, width], got \(shapeText(input))")
        }
        channels = input[0]
        spatial = input.count == 3 ? input[1] * input[2] : 1
        gamma = store.reserveParameter("batchnorm.weight", count: channels, .constant(1))
        beta = store.reserveParameter("batchnorm.bias", count: channels, .constant(0))
        runningMean = store.reserveState("batchnorm.running_mean", count: channels, 0)
        runningVariance = store.reserveState("batchnorm.running_var", count: channels, 1)
        return input
    }

    public override func flops(input: [Int]) -> Int { 2 * input.reduce(1, *) }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.batch, g = store.pointer(gamma), b = store.pointer(beta)
        let rm = store.statePointer(runningMean), rv = store.statePointer(runningVariance)
        let m = Float(n * spatial), planeStride = channels * spatial
        if training {
            batch = n
            normalized = [Float](unsafeUninitializedCapacity: x.count) { _, c in c = x.count }
            inverseStd = [Float](repeating: 0, count: channels)
        }
        let y = Tensor(uninitialized: x.shape) { yp in
            x.data.withUnsafeBufferPointer { xb in
                normalized.withUnsafeMutableBufferPointer { hb in
                    let xp = xb.baseAddress!, y = yp.baseAddress!
                    for c in 0..<channels {
                        var mean: Float, variance: Float
                        if training {
                            // Two passes (mean, then squared deviations): E[x²] − mean² cancels badly
                            // in Float when the mean is large against the spread.
                            var total: Float = 0
                            for s in 0..<n { total += sum(xp + s * planeStride + c * spatial, count: spatial) }
                            mean = total / m
                            var squares: Float = 0
                            for s in 0..<n {
                                squares += squaredDeviations(xp + s * planeStride + c * spatial, mean: mean, count: spatial)
                            }
                            variance = squares / m
                            rm[c] = (1 - momentum) * rm[c] + momentum * mean
                            let unbiased = m > 1 ? variance * m / (m - 1) : variance
                            rv[c] = (1 - momentum) * rv[c] + momentum * unbiased
                        } else {
                            mean = rm[c]
                            variance = rv[c]
                        }
                        let inv = 1 / (variance + epsilon).squareRoot(), scale = g[c] * inv, shift = b[c] - mean * scale
                        for s in 0..<n {
                            let base = s * planeStride + c * spatial
                            let source = xp + base, out = y + base
                            for i in 0..<spatial { out[i] = source[i] * scale + shift }
                            if training {
                                let h = hb.baseAddress! + base
                                for i in 0..<spatial { h[i] = (source[i] - mean) * inv }
                            }
                        }
                        if training { inverseStd[c] = inv }
                    }
                }
            }
        }
        return y
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let n = batch, g = store.pointer(gamma), dg = store.gradient(gamma), db = store.gradient(beta)
        let m = Float(n * spatial), planeStride = channels * spatial
        let dx = Tensor(uninitialized: dy.shape) { dp in
            dy.data.withUnsafeBufferPointer { gb in
                normalized.withUnsafeBufferPointer { hb in
                    let gp = gb.baseAddress!, h = hb.baseAddress!, d = dp.baseAddress!
                    for c in 0..<channels {
                        var sumG: Float = 0, sumGH: Float = 0
                        for s in 0..<n {
                            let base = s * planeStride + c * spatial
                            sumG += sum(gp + base, count: spatial)
                            sumGH += dot(gp + base, h + base, count: spatial)
                        }
                        dg[c] += sumGH
                        db[c] += sumG
                        let k = g[c] * inverseStd[c] / m
                        for s in 0..<n {
                            let base = s * planeStride + c * spatial
                            let gs = gp + base, hs = h + base, ds = d + base
                            for i in 0..<spatial { ds[i] = k * (m * gs[i] - sumG - hs[i] * sumGH) }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Layer normalisation over all features of each sample, with a per-feature scale and shift.
public final class LayerNorm: Layer {
    public let epsilon: Float = 1e-5
    private var features = 0, batch = 0
    private var gamma: ParameterStore.Slice!
    private var beta: ParameterStore.Slice!
    private var normalized: [Float] = []
    private var inverseStd: [Float] = []

    public override var kind: String { "layernorm" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        features = input.reduce(1, *)
        gamma = store.reserveParameter("layernorm.weight", count: features, .constant(1))
        beta = store.reserveParameter("layernorm.bias", count: features, .constant(0))
        return input
    }

    public override func flops(input: [Int]) -> Int { 2 * input.reduce(1, *) }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.batch, g = store.pointer(gamma), b = store.pointer(beta)
        batch = n
        normalized = [Float](repeating: 0, count: x.count)
        inverseStd = [Float](repeating: 0, count: n)
        var y = Tensor(zeros: x.shape)
        for s in 0..<n {
            let base = s * features
            var sum: Float = 0
            for i in 0..<features { sum += x.data[base + i] }
            let mean = sum / Float(features)
            var squares: Float = 0
            for i in 0..<features { squares += (x.data[base + i] - mean) * (x.data[base + i] - mean) }
            let inv = 1 / (squares / Float(features) + epsilon).squareRoot()
            inverseStd[s] = inv
            for i in 0..<features {
                let h = (x.data[base + i] - mean) * inv
                normalized[base + i] = h
                y.data[base + i] = g[i] * h + b[i]
            }
        }
        return y
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let g = store.pointer(gamma), dg = store.gradient(gamma), db = store.gradient(beta)
        var dx = Tensor(zeros: dy.shape)
        let f = Float(features)
        for s in 0..<batch {
            let base = s * features
            var sumA: Float = 0, sumAH: Float = 0
            for i in 0..<features {
                let a = dy.data[base + i] * g[i]
                sumA += a
                sumAH += a * normalized[base + i]
                dg[i] += dy.data[base + i] * normalized[base + i]
                db[i] += dy.data[base + i]
            }
            for i in 0..<features {
                let a = dy.data[base + i] * g[i]
                dx.data[base + i] = inverseStd[s] / f * (f * a - sumA - normalized[base + i] * sumAH)
            }
        }
        return dx
    }
}
