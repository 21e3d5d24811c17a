/// A network built from a spec, with its parameters in one `ParameterStore`.
public final class Model {
    public let spec: ModelSpec
    public let network: Sequential
    public let store = ParameterStore()
    public let outputShape: [Int]

    /// Builds and initialises deterministically from `seed`.
    public init(spec: ModelSpec, seed: UInt64) throws {
        self.spec = spec
        network = try spec.makeNetwork()
        do {
            outputShape = try network.build(input: spec.input, store: store)
        } catch let error as ShapeError {
            throw ModelSpecError("model \(spec.name): \(error.message)")
        }
        guard outputShape == [spec.classes] else {
            throw ModelSpecError("model \(spec.name): outputs \(shapeText(outputShape)) but has \(spec.classes) classes; "
                + "end with a dense layer of \(spec.classes) outputs")
        }
        network.needsInputGradient = false
        store.allocate(seed: seed)
    }

    public var parameterCount: Int { store.parameterCount }
    /// Multiply–accumulates of one sample's forward pass.
    public var flops: Int { network.flops(input: spec.input) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor { network.forward(x, training: training) }

    public func backward(_ gradient: Tensor) { _ = network.backward(gradient) }

    /// Identifies the architecture (not the weights): checkpoints from another model are refused.
    public var signature: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in "\(spec.canonical)#\(parameterCount)#\(store.stateCount)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return hash
    }
}
