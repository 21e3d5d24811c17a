/// 2-D convolution on NCHW. Three kernels: direct loops for depthwise convolutions
/// (`groups` = input = output channels; a separable conv is one followed by a 1×1), where a
/// GEMM per channel has a single output row and spends its time copying columns; one GEMM
/// per sample for 1×1 without stride or padding; im2col + one GEMM per group over chunks of
/// the batch for the rest. Weight [out, in/groups, k, k], initialised as PyTorch's nn.Conv2d.
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
    /// The last training input; the backward pass rebuilds its columns chunk by chunk.
    private var input = Tensor(zeros: [0])
    /// Floats of im2col columns per chunk of samples: batch-wide columns of a 5×5 conv reach
    /// tens of MB, which glibc maps and unmaps on every call (a page fault per 4 KB).
    public var columnBudget = 1 << 20

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
    private var isDepthwise: Bool { groups > 1 && groups == inChannels && groups == outChannels }
    /// A 1×1 convolution without stride or padding: each sample's [C, H·W] already is its
    /// im2col, so one GEMM per sample writes straight into the output.
    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 && groups == 1 }

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
                                if stride == 1 {
                                    let shifted = line + shift
                                    for ox in low..<max(low, high) { shifted[ox] += source[ox] }
                                } else {
                                    for ox in low..<max(low, high) { line[ox * stride + shift] += source[ox] }
                                }
                            }
                            source += outWidth
                        }
                    }
                }
            }
        }
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { input = x }
        let y = Tensor(uninitialized: [x.batch, outChannels, outHeight, outWidth]) { y in
            x.data.withUnsafeBufferPointer { xp in
                if isDepthwise {
                    depthwiseForward(xp.baseAddress!, n: x.batch, y.baseAddress!)
                } else if isPointwise {
                    pointwiseForward(xp.baseAddress!, n: x.batch, y.baseAddress!)
                } else {
                    im2colForward(xp.baseAddress!, n: x.batch, y.baseAddress!)
                }
            }
        }
        return y
    }

    public override func backward(_ dy: Tensor) -> Tensor {
        var dx = needsInputGradient ? Tensor(zeros: input.shape) : Tensor(zeros: [0])
        dy.data.withUnsafeBufferPointer { g in
            input.data.withUnsafeBufferPointer { xp in
                dx.data.withUnsafeMutableBufferPointer { dxp in
                    let dxBase = needsInputGradient ? dxp.baseAddress : nil
                    if isDepthwise {
                        depthwiseBackward(xp.baseAddress!, g.baseAddress!, n: input.batch, dxBase)
                    } else if isPointwise {
                        pointwiseBackward(xp.baseAddress!, g.baseAddress!, n: input.batch, dxBase)
                    } else {
                        im2colBackward(xp.baseAddress!, g.baseAddress!, n: input.batch, dxBase)
                    }
                }
            }
        }
        return dx
    }

    /// Samples per im2col chunk: as many as fit `columnBudget`, at least one.
    private func chunkSize(n: Int) -> Int { max(1, min(n, columnBudget / max(1, kSize * outHeight * outWidth))) }

    private func im2colForward(_ x: UnsafePointer<Float>, n: Int, _ y: UnsafeMutablePointer<Float>) {
        let outHW = outHeight * outWidth, og = outChannels / groups, k = kSize, chunk = chunkSize(n: n)
        let w = store.pointer(weight), b = store.pointer(bias)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: k * chunk * outHW)
        let product = UnsafeMutablePointer<Float>.allocate(capacity: og * chunk * outHW)
        defer { cols.deallocate(); product.deallocate() }
        for first in Swift.stride(from: 0, to: n, by: chunk) {
            let count = min(chunk, n - first), xs = x + first * inChannels * height * width
            for g in 0..<groups {
                im2col(xs, group: g, n: count, cols)
                gemm(m: og, n: count * outHW, k: k, w + g * og * k, lda: k, cols, ldb: count * outHW, beta: 0,
                     product, ldc: count * outHW)
                // [og, count, outHW] → NCHW, plus bias.
                for o in 0..<og {
                    let channel = g * og + o, bo = b[channel]
                    for s in 0..<count {
                        let src = product + (o * count + s) * outHW
                        let dst = y + ((first + s) * outChannels + channel) * outHW
                        for i in 0..<outHW { dst[i] = src[i] + bo }
                    }
                }
            }
        }
    }

    private func im2colBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, n: Int,
                                _ dx: UnsafeMutablePointer<Float>?) {
        let outHW = outHeight * outWidth, og = outChannels / groups, k = kSize, chunk = chunkSize(n: n)
        let w = store.pointer(weight), dw = store.gradient(weight), db = store.gradient(bias)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: k * chunk * outHW)
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: og * chunk * outHW)
        defer { cols.deallocate(); gathered.deallocate() }
        for first in Swift.stride(from: 0, to: n, by: chunk) {
            let count = min(chunk, n - first), planeSize = inChannels * height * width
            for group in 0..<groups {
                // NCHW → [og, count·outHW], and the bias gradient.
                for o in 0..<og {
                    let channel = group * og + o
                    var sum: Float = 0
                    for s in 0..<count {
                        let src = dy + ((first + s) * outChannels + channel) * outHW
                        let dst = gathered + (o * count + s) * outHW
                        for i in 0..<outHW {
                            dst[i] = src[i]
                            sum += src[i]
                        }
                    }
                    db[channel] += sum
                }
                im2col(x + first * planeSize, group: group, n: count, cols)
                gemm(transposeB: true, m: og, n: k, k: count * outHW, gathered, lda: count * outHW, cols,
                     ldb: count * outHW, beta: 1, dw + group * og * k, ldc: k)
                if let dx {
                    gemm(transposeA: true, m: k, n: count * outHW, k: og, w + group * og * k, lda: k,
                         gathered, ldb: count * outHW, beta: 0, cols, ldc: count * outHW)
                    col2im(cols, group: group, n: count, dx + first * planeSize)
                }
            }
        }
    }

    private func pointwiseForward(_ x: UnsafePointer<Float>, n: Int, _ y: UnsafeMutablePointer<Float>) {
        let hw = height * width, w = store.pointer(weight), b = store.pointer(bias)
        for s in 0..<n {
            let out = y + s * outChannels * hw
            for o in 0..<outChannels { (out + o * hw).update(repeating: b[o], count: hw) }
            gemm(m: outChannels, n: hw, k: inChannels, w, lda: inChannels, x + s * inChannels * hw, ldb: hw, beta: 1,
                 out, ldc: hw)
        }
    }

    private func pointwiseBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, n: Int,
                                   _ dx: UnsafeMutablePointer<Float>?) {
        let hw = height * width, w = store.pointer(weight), dw = store.gradient(weight), db = store.gradient(bias)
        for s in 0..<n {
            let g = dy + s * outChannels * hw, xs = x + s * inChannels * hw
            for o in 0..<outChannels { db[o] += sum(g + o * hw, count: hw) }
            gemm(transposeB: true, m: outChannels, n: inChannels, k: hw, g, lda: hw, xs, ldb: hw, beta: 1, dw,
                 ldc: inChannels)
            if let dx {
                gemm(transposeA: true, m: inChannels, n: hw, k: outChannels, w, lda: inChannels, g, ldb: hw, beta: 0,
                     dx + s * inChannels * hw, ldc: hw)
            }
        }
    }

    /// y[s, c] = b[c] + Σ w[c, ki, kj] · x[s, c] shifted by (ki, kj): one multiply-add per row
    /// segment that lies inside the image.
    private func depthwiseForward(_ x: UnsafePointer<Float>, n: Int, _ y: UnsafeMutablePointer<Float>) {
        let w = store.pointer(weight), b = store.pointer(bias), kk = kernel * kernel
        for s in 0..<n {
            for c in 0..<inChannels {
                let plane = x + (s * inChannels + c) * height * width
                let out = y + (s * inChannels + c) * outHeight * outWidth
                out.update(repeating: b[c], count: outHeight * outWidth)
                for ki in 0..<kernel {
                    for kj in 0..<kernel {
                        let wv = w[c * kk + ki * kernel + kj], shift = kj * dilation - padding
                        let (low, high) = validColumns(offset: kj * dilation)
                        for oy in 0..<outHeight {
                            let iy = oy * stride - padding + ki * dilation
                            guard iy >= 0 && iy < height else { continue }
                            let line = plane + iy * width + shift, row = out + oy * outWidth
                            if stride == 1 {
                                for ox in low..<high { row[ox] += wv * line[ox] }
                            } else {
                                for ox in low..<high { row[ox] += wv * line[ox * stride] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `depthwiseForward`: weight and bias gradients as row dot products, the
    /// input gradient as row multiply-adds.
    private func depthwiseBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, n: Int,
                                   _ dx: UnsafeMutablePointer<Float>?) {
        let w = store.pointer(weight), dw = store.gradient(weight), db = store.gradient(bias)
        let kk = kernel * kernel, outHW = outHeight * outWidth
        for s in 0..<n {
            for c in 0..<inChannels {
                let plane = x + (s * inChannels + c) * height * width
                let dplane = dx.map { $0 + (s * inChannels + c) * height * width }
                let g = dy + (s * inChannels + c) * outHW
                db[c] += sum(g, count: outHW)
                for ki in 0..<kernel {
                    for kj in 0..<kernel {
                        let index = c * kk + ki * kernel + kj, wv = w[index], shift = kj * dilation - padding
                        let (low, high) = validColumns(offset: kj * dilation)
                        var acc: Float = 0
                        for oy in 0..<outHeight {
                            let iy = oy * stride - padding + ki * dilation
                            guard iy >= 0 && iy < height && low < high else { continue }
                            let row = g + oy * outWidth
                            if stride == 1 {
                                acc += dot(row + low, plane + iy * width + shift + low, count: high - low)
                                if let dplane {
                                    let line = dplane + iy * width + shift
                                    for ox in low..<high { line[ox] += wv * row[ox] }
                                }
                            } else {
                                let line = plane + iy * width + shift
                                for ox in low..<high { acc += row[ox] * line[ox * stride] }
                                if let dplane {
                                    let dline = dplane + iy * width + shift
                                    for ox in low..<high { dline[ox * stride] += wv * row[ox] }
                                }
                            }
                        }
                        dw[index] += acc
                    }
                }
            }
        }
    }
}
