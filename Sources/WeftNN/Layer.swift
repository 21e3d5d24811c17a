/// A layer with an explicit forward and backward pass (llm.c style): `forward` caches what
/// `backward` needs; `backward` adds parameter gradients into the store and returns the
/// gradient with respect to the input. Shapes given to `build` are per sample (no batch).
open class Layer {
    /// The first layer of a model skips computing its input gradient.
    public var needsInputGradient = true
    public private(set) unowned(unsafe) var store: ParameterStore!

    public init() {}

    /// A short name for messages and model specs.
    open var kind: String { "layer" }

    /// Reserves parameters in `store` and returns the output shape for `input`.
    open func build(input: [Int], store: ParameterStore) throws -> [Int] {
        self.store = store
        return input
    }

    open func forward(_ input: Tensor, training: Bool) -> Tensor { input }

    open func backward(_ gradient: Tensor) -> Tensor { gradient }

    /// Multiply–accumulates per sample of the forward pass, for cost constraints.
    open func flops(input: [Int]) -> Int { 0 }

    /// Random-generator states (dropout), for checkpoints.
    open var randomStates: [UInt64] {
        get { [] }
        set {}
    }

    /// Attaches the store without reserving (used by containers after their children built).
    func attach(_ store: ParameterStore) { self.store = store }
}
