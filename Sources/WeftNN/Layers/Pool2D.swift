/// Max or average pooling over k×k windows with a stride (no padding), on NCHW.
public final class Pool2D: Layer {
    public enum Mode: String, Sendable { case max, average }

    public let mode: Mode
    public let kernel: Int
    public let stride: Int
    private var channels = 0, height = 0, width = 0, outHeight = 0, outWidth = 0
    /// For max pooling: the input index each output came from (last training batch).
    private var argmax: [Int32] = []
    private var batch = 0

    public init(_ mode: Mode, kernel: Int, stride: Int? = nil) {
        self.mode = mode
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public override var kind: String { mode == .max ? "maxpool" : "avgpool" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard input.count == 3 else { throw ShapeError("\(kind) expects [channels, height, width], got \(shapeText(input))") }
        guard kernel > 0 && stride > 0 else { throw ShapeError("\(kind) needs a positive kernel and stride") }
        (channels, height, width) = (input[0], input[1], input[2])
        outHeight = (height - kernel) / stride + 1
        outWidth = (width - kernel) / stride + 1
        guard height >= kernel && width >= kernel else {
            throw ShapeError("\(kind) kernel \(kernel) is larger than input \(shapeText(input))")
        }
        return [channels, outHeight, outWidth]
    }

    public override func flops(input: [Int]) -> Int { channels * outHeight * outWidth * kernel * kernel }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.batch, planes = n * channels
        if training && mode == .max && argmax.count != planes * outHeight * outWidth {
            argmax = [Int32](repeating: 0, count: planes * outHeight * outWidth)
        }
        if training { batch = n }
        if mode == .max && kernel == 2 && stride == 2 { return maxPool2x2(x, training: training) }
        let scale = 1 / Float(kernel * kernel)
        return Tensor(uninitialized: [n, channels, outHeight, outWidth]) { y in
            x.data.withUnsafeBufferPointer { xp in
                for p in 0..<planes {
                    let plane = xp.baseAddress! + p * height * width
                    for oy in 0..<outHeight {
                        for ox in 0..<outWidth {
                            let o = (p * outHeight + oy) * outWidth + ox
                            if mode == .max {
                                var best = -Float.infinity, at = 0
                                for ki in 0..<kernel {
                                    for kj in 0..<kernel {
                                        let i = (oy * stride + ki) * width + ox * stride + kj
                                        if plane[i] > best { best = plane[i]; at = i }
                                    }
                                }
                                y[o] = best
                                if training { argmax[o] = Int32(at) }
                            } else {
                                var sum: Float = 0
                                for ki in 0..<kernel {
                                    for kj in 0..<kernel { sum += plane[(oy * stride + ki) * width + ox * stride + kj] }
                                }
                                y[o] = sum * scale
                            }
                        }
                    }
                }
            }
        }
    }

    /// The common 2×2, stride-2 max pool, without the generic window loops.
    private func maxPool2x2(_ x: Tensor, training: Bool) -> Tensor {
        let planes = x.batch * channels
        return Tensor(uninitialized: [x.batch, channels, outHeight, outWidth]) { y in
            x.data.withUnsafeBufferPointer { xp in
                argmax.withUnsafeMutableBufferPointer { am in
                    for p in 0..<planes {
                        let plane = xp.baseAddress! + p * height * width
                        for oy in 0..<outHeight {
                            let top = (2 * oy) * width, bottom = top + width
                            let o = (p * outHeight + oy) * outWidth
                            for ox in 0..<outWidth {
                                let i = top + 2 * ox, j = bottom + 2 * ox
                                var best = plane[i], at = i
                                if plane[i + 1] > best { best = plane[i + 1]; at = i + 1 }
                                if plane[j] > best { best = plane[j]; at = j }
                                if plane[j + 1] > best { best = plane[j + 1]; at = j + 1 }
                                y[o + ox] = best
                                if training { am[o + ox] = Int32(at) }
                            }
                        }
                    }
                }
            }
        }
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let planes = batch * channels
        var dx = Tensor(zeros: [batch, channels, height, width])
        let scale = 1 / Float(kernel * kernel)
        dx.data.withUnsafeMutableBufferPointer { d in
            dy.data.withUnsafeBufferPointer { g in
                for p in 0..<planes {
                    let plane = d.baseAddress! + p * height * width
                    for oy in 0..<outHeight {
                        for ox in 0..<outWidth {
                            let o = (p * outHeight + oy) * outWidth + ox
                            if mode == .max {
                                plane[Int(argmax[o])] += g[o]
                            } else {
                                for ki in 0..<kernel {
                                    for kj in 0..<kernel { plane[(oy * stride + ki) * width + ox * stride + kj] += g[o] * scale }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Global average pooling: [C, H, W] → [C].
public final class GlobalAveragePool: Layer {
    private var channels = 0, area = 0, batch = 0

    public override var kind: String { "globalavgpool" }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard input.count == 3 else { throw ShapeError("globalavgpool expects [channels, height, width], got \(shapeText(input))") }
        channels = input[0]
        area = input[1] * input[2]
        return [channels]
    }

    public override func flops(input: [Int]) -> Int { channels * area }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        batch = x.batch
        let scale = 1 / Float(area)
        return Tensor(uninitialized: [x.batch, channels]) { y in
            x.data.withUnsafeBufferPointer { xp in
                for p in 0..<(x.batch * channels) {
                    var sum: Float = 0
                    for i in 0..<area { sum += xp[p * area + i] }
                    y[p] = sum * scale
                }
            }
        }
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let scale = 1 / Float(area)
        return Tensor(uninitialized: [batch, channels, area]) { d in
            for p in 0..<(batch * channels) {
                let v = dy.data[p] * scale
                for i in 0..<area { d[p * area + i] = v }
            }
        }
    }
}
