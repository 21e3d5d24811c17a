/// 2-D convolution on NCHW by im2col + one GEMM per group over the whole batch. `groups`
/// = input channels gives a depthwise convolution (a separable one is depthwise followed
/// by a 1×1). Weight [out, in/groups, k, k], initialised as PyTorch's nn.Conv2d.
public final class Conv2D: Layer {
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    private var inChannels = 0, height = 0, width = 0, outHeight = 0, outWidth = 0
    private var weight: ParameterStore.Slice!
    private var bias: ParameterStore.Slice!
    /// im2col of the last training batch, per group: [K, N·outH·outW].
    private var columns: [Float] = []
    private var batch = 0

    public init(_ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public override var kind: String { "conv2d" }

    private var kSize: Int { (inChannels / groups) * kernel * kernel }

    public override func build(input: [Int], store: ParameterStore) throws -> [Int] {
        _ = try super.build(input: input, store: store)
        guard input.count == 3 else {
            throw ShapeError("conv2d expects [channels, height, width], got \(shapeText(input))")
        }
        (inChannels, height, width) = (input[0], input[1], input[2])
        guard kernel > 0, stride > 0, padding >= 0, dilation > 0, groups > 0, outChannels > 0 else {
            throw ShapeError("conv2d needs positive kernel, stride, dilation, groups and channels")
        }
        guard inChannels % groups == 0 && outChannels % groups == 0 else {
            throw ShapeError("conv2d groups \(groups) must divide input channels \(inChannels) and output channels \(outChannels)")
        }
        outHeight = (height + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
        outWidth = (width + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
        guard outHeight > 0 && outWidth > 0 else {
            throw ShapeError("conv2d kernel \(kernel) (dilation \(dilation)) does not fit input \(shapeText(input))")
        }
        let bound = 1 / Float(kSize).squareRoot()
        weight = store.reserveParameter("conv2d.weight", count: outChannels * kSize, .uniform(bound: bound))
        bias = store.reserveParameter("conv2d.bias", count: outChannels, .uniform(bound: bound))
        return [outChannels, outHeight, outWidth]
    }

    public override func flops(input: [Int]) -> Int { outChannels * outHeight * outWidth * kSize }

    /// The output columns [low, high) whose input column ox·stride − padding + offset lies
    /// inside the image; outside it the im2col entries are zero padding.
    @inline(__always)
    private func validColumns(offset: Int) -> (Int, Int) {
        // ix = ox·stride + shift must satisfy 0 ≤ ix < width.
        let shift = offset - padding
        let low = shift >= 0 ? 0 : (-shift + stride - 1) / stride
        let high = width - shift <= 0 ? 0 : min(outWidth, (width - shift + stride - 1) / stride)
        return (min(low, high), high)
    }

    /// Fills `col` [K, n·outHW] from channels [g·Cg, (g+1)·Cg) of `x`.
    private func im2col(_ x: UnsafePointer<Float>, group g: Int, n: Int, _ col: UnsafeMutablePointer<Float>) {
        let cg = inChannels / groups, outHW = outHeight * outWidth, columnsCount = n * outHW
        for c in 0..<cg {
            for ki in 0..<kernel {
                for kj in 0..<kernel {
                    let row = col + ((c * kernel + ki) * kernel + kj) * columnsCount
                    let (low, high) = validColumns(offset: kj * dilation)
                    let shift = kj * dilation - padding
                    for s in 0..<n {
                        let plane = x + ((s * inChannels) + g * cg + c) * height * width
                        var out = row + s * outHW
                        for oy in 0..<outHeight {
                            let iy = oy * stride - padding + ki * dilation
                            if iy < 0 || iy >= height || low >= high {
                                out.update(repeating: 0, count: outWidth)
                            } else {
                                let line = plane + iy * width
                                if low > 0 { out.update(repeating: 0, count: low) }
                                if stride == 1 {
                                    (out + low).update(from: line + low + shift, count: high - low)
                                } else {
                                    for ox in low..<high { out[ox] = line[ox * stride + shift] }
                                }
                                if high < outWidth { (out + high).update(repeating: 0, count: outWidth - high) }
                            }
                            out += outWidth
                        }
                    }
                }
            }
        }
    }

    /// Adds `col` [K, n·outHW] back into channels of group g of `dx` (the adjoint of im2col).
    private func col2im(_ col: UnsafePointer<Float>, group g: Int, n: Int, _ dx: UnsafeMutablePointer<Float>) {
        let cg = inChannels / groups, outHW = outHeight * outWidth, columnsCount = n * outHW
        for c in 0..<cg {
            for ki in 0..<kernel {
                for kj in 0..<kernel {
                    let row = col + ((c * kernel + ki) * kernel + kj) * columnsCount
                    let (low, high) = validColumns(offset: kj * dilation)
                    let shift = kj * dilation - padding
                    for s in 0..<n {
                        let plane = dx + ((s * inChannels) + g * cg + c) * height * width
                        var source = row + s * outHW
                        for oy in 0..<outHeight {
                            let iy = oy * stride - padding + ki * dilation
                            if iy >= 0 && iy < height {
                                let line = plane + iy * width
                                for ox in low..<max(low, high) { line[ox * stride + shift] += source[ox] }
                            }
                            source += outWidth
                        }
                    }
                }
            }
        }
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.batch, outHW = outHeight * outWidth, og = outChannels / groups, k = kSize
        let perGroup = k * n * outHW
        var cols = [Float](unsafeUninitializedCapacity: perGroup * groups) { _, c in c = perGroup * groups }
        var product = [Float](unsafeUninitializedCapacity: og * n * outHW) { _, c in c = og * n * outHW }
        let w = store.pointer(weight), b = store.pointer(bias)
        let y = Tensor(uninitialized: [n, outChannels, outHeight, outWidth]) { y in
            x.data.withUnsafeBufferPointer { xp in
                cols.withUnsafeMutableBufferPointer { cp in
                    product.withUnsafeMutableBufferPointer { pp in
                        for g in 0..<groups {
                            let col = cp.baseAddress! + g * perGroup
                            im2col(xp.baseAddress!, group: g, n: n, col)
                            gemm(m: og, n: n * outHW, k: k, w + g * og * k, lda: k, col, ldb: n * outHW, beta: 0,
                                 pp.baseAddress!, ldc: n * outHW)
                            // [og, n, outHW] → NCHW, plus bias.
                            for o in 0..<og {
                                let channel = g * og + o, bo = b[channel]
                                for s in 0..<n {
                                    let src = pp.baseAddress! + (o * n + s) * outHW
                                    let dst = y.baseAddress! + (s * outChannels + channel) * outHW
                                    for i in 0..<outHW { dst[i] = src[i] + bo }
                                }
                            }
                        }
                    }
                }
            }
        }
        if training {
            columns = cols
            batch = n
        }
        return y
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        let n = batch, outHW = outHeight * outWidth, og = outChannels / groups, k = kSize
        let perGroup = k * n * outHW
        let w = store.pointer(weight), dw = store.gradient(weight), db = store.gradient(bias)
        var gathered = [Float](unsafeUninitializedCapacity: og * n * outHW) { _, c in c = og * n * outHW }
        var dcol = needsInputGradient ? [Float](unsafeUninitializedCapacity: perGroup) { _, c in c = perGroup } : []
        var dx = needsInputGradient ? Tensor(zeros: [n, inChannels, height, width]) : Tensor(zeros: [0])
        dy.data.withUnsafeBufferPointer { g in
            columns.withUnsafeBufferPointer { cp in
                gathered.withUnsafeMutableBufferPointer { gp in
                    for group in 0..<groups {
                        // NCHW → [og, n·outHW], and the bias gradient.
                        for o in 0..<og {
                            let channel = group * og + o
                            var sum: Float = 0
                            for s in 0..<n {
                                let src = g.baseAddress! + (s * outChannels + channel) * outHW
                                let dst = gp.baseAddress! + (o * n + s) * outHW
                                for i in 0..<outHW {
                                    dst[i] = src[i]
                                    sum += src[i]
                                }
                            }
                            db[channel] += sum
                        }
                        let col = cp.baseAddress! + group * perGroup
                        gemm(transposeB: true, m: og, n: k, k: n * outHW, gp.baseAddress!, lda: n * outHW, col,
                             ldb: n * outHW, beta: 1, dw + group * og * k, ldc: k)
                        if needsInputGradient {
                            dcol.withUnsafeMutableBufferPointer { dc in
                                gemm(transposeA: true, m: k, n: n * outHW, k: og, w + group * og * k, lda: k,
                                     gp.baseAddress!, ldb: n * outHW, beta: 0, dc.baseAddress!, ldc: n * outHW)
                                dx.data.withUnsafeMutableBufferPointer { dxp in
                                    col2im(dc.baseAddress!, group: group, n: n, dxp.baseAddress!)
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
