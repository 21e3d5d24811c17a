/// Why a schedule cannot be generated for a request.
public enum ScheduleError: Error, Equatable, CustomStringConvertible {
    case unsupported(algorithm: Algorithm, collective: Collective, supported: [Collective])
    case notScheduled(Algorithm)
    case invalidRanks(Int)
    case invalidRoot(root: Int, ranks: Int)
    case needsTopology(Algorithm)
    case irregular(Algorithm, String)
    case needsNodeLayout(Algorithm)

    public var description: String {
        switch self {
        case .unsupported(let algorithm, let collective, let supported):
            let list = supported.map(\.rawValue).joined(separator: ", ")
            return "algorithm '\(algorithm.rawValue)' cannot run \(collective.rawValue); it serves: \(list)"
        case .notScheduled(let algorithm):
            return "algorithm '\(algorithm.rawValue)' is not a schedule"
        case .invalidRanks(let ranks):
            return "a schedule needs at least 1 rank, got \(ranks)"
        case .needsTopology(let algorithm):
            return "algorithm '\(algorithm.rawValue)' needs a topology: pass --topology FILE (or set WEFT_TOPOLOGY)"
        case .needsNodeLayout(let algorithm):
            return "algorithm '\(algorithm.rawValue)' is built from the node layout a communicator learns from MPI"
        case .irregular(let algorithm, let why):
            return "algorithm '\(algorithm.rawValue)' cannot run on this placement: \(why)"
        case .invalidRoot(let root, let ranks):
            return "root \(root) is not a rank of a \(ranks)-rank communicator (use 0…\(ranks - 1))"
        }
    }
}
