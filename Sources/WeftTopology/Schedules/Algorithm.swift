/// Collective algorithms, named as on the command line (`--algorithm`, `WEFT_ALGO`).
///
/// Every algorithm except `mpi` and `auto` is a schedule generator; `mpi` is Open MPI's own
/// collective (the baseline in every benchmark) and `auto` defers to the selection table.
public enum Algorithm: String, CaseIterable, Sendable, Codable {
    case ring
    case tree
    case doubleTree = "double-tree"
    case recursiveDoubling = "recursive-doubling"
    case rabenseifner
    case direct
    case mpi
    case auto

    /// Algorithms that `--algorithm all` runs: every concrete one.
    public static let concrete: [Algorithm] = [.ring, .tree, .doubleTree, .recursiveDoubling, .rabenseifner, .direct, .mpi]

    /// Whether this algorithm is produced as a `Schedule`.
    public var isScheduled: Bool { self != .mpi && self != .auto }
}
