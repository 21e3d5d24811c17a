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
    /// Node-aware: inside each node, across nodes per shard, inside again (needs only the
    /// node layout, which a communicator learns from MPI).
    case twoLevel = "two-level"
    case mpi
    case auto
    /// Topology-aware (need a topology descriptor): a ring in network order; a ring per
    /// level of the hierarchy; per torus dimension; dragonfly levels with the inter-group
    /// phase spread over all global links.
    case topoRing = "topo-ring"
    case hierarchical
    case torus
    case dragonfly

    /// Algorithms that `--algorithm all` runs: every concrete one.
    public static let concrete: [Algorithm] = [.ring, .tree, .doubleTree, .recursiveDoubling, .rabenseifner, .direct,
                                               .twoLevel, .mpi]

    /// Whether this algorithm is produced as a `Schedule`.
    public var isScheduled: Bool { self != .mpi && self != .auto }

    /// Algorithms whose schedule depends on the network (a topology descriptor).
    public static let topologyAware: [Algorithm] = Schedules.generators.filter { $0.requirement == .topology }.map {
        $0.algorithm
    }
    public var needsTopology: Bool { Schedules.generator(for: self)?.requirement == .topology }
    /// Algorithms whose schedule depends on which ranks share a node.
    public var needsNodeLayout: Bool { Schedules.generator(for: self)?.requirement == .nodeLayout }
}
