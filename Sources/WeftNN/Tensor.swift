/// A Float32 tensor on contiguous storage, row-major; images are NCHW.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor of shape \(shape) needs \(shape.reduce(1, *)) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Storage that the caller fully overwrites through `body`.
    public init(uninitialized shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.shape = shape
        let count = shape.reduce(1, *)
        data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            body(buffer)
            initialized = count
        }
    }

    public var count: Int { data.count }
    /// Leading (batch) dimension.
    public var batch: Int { shape.first ?? 0 }
    /// Elements per sample.
    public var sampleSize: Int { shape.dropFirst().reduce(1, *) }

    public func reshaped(_ shape: [Int]) -> Tensor { Tensor(shape: shape, data: data) }
}

/// A shape that does not fit a layer, reported with the layer's index and both shapes.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
