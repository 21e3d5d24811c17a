/// The collective operations Weft runs, named as on the command line.
public enum Collective: String, CaseIterable, Sendable, Codable {
    case allreduce
    case reduceScatter = "reduce-scatter"
    case allgather
    case broadcast
    case reduce
    case barrier
    case alltoall

    /// Whether the buffer is `ranks` equal blocks (rank r's block is its own part).
    public var isBlockwise: Bool {
        switch self {
        case .reduceScatter, .allgather, .alltoall: return true
        case .allreduce, .broadcast, .reduce, .barrier: return false
        }
    }

    /// Whether the collective combines values with a reduction operator.
    public var reduces: Bool {
        switch self {
        case .allreduce, .reduceScatter, .reduce: return true
        case .allgather, .broadcast, .barrier, .alltoall: return false
        }
    }

    /// Whether a root rank is part of the request.
    public var isRooted: Bool { self == .broadcast || self == .reduce }

    /// nccl-tests' bus-bandwidth factor: algbw × factor is the per-link bandwidth an
    /// optimal algorithm would need, comparable across rank counts.
    public func busBandwidthFactor(ranks: Int) -> Double {
        let n = Double(ranks)
        guard ranks > 1 else { return 0 }
        switch self {
        case .allreduce: return 2 * (n - 1) / n
        case .reduceScatter, .allgather, .alltoall: return (n - 1) / n
        case .broadcast, .reduce: return 1
        case .barrier: return 0
        }
    }
}
