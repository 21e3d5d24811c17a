/// Every parameter and gradient of a model in one flat allocation each (so a collective
/// sees one buffer), plus non-trainable state (batch-norm running statistics). Layers
/// reserve slices while the model is built; `allocate(seed:)` then lays everything out
/// and initialises it deterministically.
public final class ParameterStore {
    /// How a reserved slice starts.
    public enum Initializer: Sendable {
        case uniform(bound: Float)
        case normal(std: Float)
        case constant(Float)
    }

    public struct Slice: Sendable {
        public let offset: Int
        public let count: Int
    }

    private struct Reservation {
        var name: String
        var count: Int
        var initializer: Initializer
    }

    private var parameterReservations: [Reservation] = []
    private var stateReservations: [Reservation] = []
    public private(set) var values = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    public private(set) var gradients = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    public private(set) var state = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    /// Names of the parameter slices, in layout order.
    public var parameterNames: [String] { parameterReservations.map(\.name) }

    /// Whether `gradients` is memory the store allocated (else the caller's, see
    /// `useGradientStorage`).
    private var ownsGradients = true

    public init() {}

    deinit {
        values.deallocate()
        if ownsGradients { gradients.deallocate() }
        state.deallocate()
    }

    /// Moves the gradients into `storage` (e.g. a registered shared window, so the
    /// gradient allreduce reads peers' gradients in place). The caller keeps `storage`
    /// alive as long as the store.
    public func useGradientStorage(_ storage: UnsafeMutableBufferPointer<Float>) {
        precondition(storage.count >= parameterCount, "gradient storage too small")
        let moved = UnsafeMutableBufferPointer(rebasing: storage[0..<parameterCount])
        _ = moved.update(fromContentsOf: gradients)
        if ownsGradients { gradients.deallocate() }
        gradients = moved
        ownsGradients = false
    }

    public var parameterCount: Int { parameterReservations.reduce(0) { $0 + $1.count } }
    public var stateCount: Int { stateReservations.reduce(0) { $0 + $1.count } }

    func reserveParameter(_ name: String, count: Int, _ initializer: Initializer) -> Slice {
        let slice = Slice(offset: parameterCount, count: count)
        parameterReservations.append(Reservation(name: name, count: count, initializer: initializer))
        return slice
    }

    func reserveState(_ name: String, count: Int, _ initial: Float) -> Slice {
        let slice = Slice(offset: stateCount, count: count)
        stateReservations.append(Reservation(name: name, count: count, initializer: .constant(initial)))
        return slice
    }

    /// Allocates and initialises every slice; the same seed gives the same values.
    public func allocate(seed: UInt64) {
        values = .allocate(capacity: parameterCount)
        gradients = .allocate(capacity: parameterCount)
        state = .allocate(capacity: stateCount)
        gradients.initialize(repeating: 0)
        var random = SeededRandom(seed: seed)
        var offset = 0
        for r in parameterReservations {
            for i in offset..<(offset + r.count) {
                switch r.initializer {
                case .uniform(let bound): values[i] = (2 * random.unit() - 1) * bound
                case .normal(let std): values[i] = random.normal() * std
                case .constant(let c): values[i] = c
                }
            }
            offset += r.count
        }
        offset = 0
        for r in stateReservations {
            if case .constant(let c) = r.initializer {
                for i in offset..<(offset + r.count) { state[i] = c }
            }
            offset += r.count
        }
    }

    @inline(__always) func pointer(_ slice: Slice) -> UnsafeMutablePointer<Float> { values.baseAddress! + slice.offset }
    @inline(__always) func gradient(_ slice: Slice) -> UnsafeMutablePointer<Float> {
        gradients.baseAddress! + slice.offset
    }
    @inline(__always) func statePointer(_ slice: Slice) -> UnsafeMutablePointer<Float> { state.baseAddress! + slice.offset }

    /// A copy of the parameters. (Copying `values` from outside can outlive the store:
    /// Swift may release it before the copy finishes; inside a method it cannot.)
    public func parameterArray() -> [Float] { Array(values) }

    public func zeroGradients() { gradients.update(repeating: 0) }
}
