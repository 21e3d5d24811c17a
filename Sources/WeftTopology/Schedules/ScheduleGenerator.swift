/// A schedule generator: one algorithm, the collectives it serves, and how to build them.
public protocol ScheduleGenerator {
    static var algorithm: Algorithm { get }
    static var collectives: [Collective] { get }
    /// Builds the schedule. `segments` > 1 asks pipelined algorithms to split the message
    /// into that many pieces (ignored by the others).
    static func make(_ collective: Collective, ranks: Int, root: Int, segments: Int) -> Schedule
}

/// Entry point for every scheduled algorithm.
public enum Schedules {
    public static func generator(for algorithm: Algorithm) -> ScheduleGenerator.Type? {
        switch algorithm {
        case .ring: return Ring.self
        case .tree: return BinomialTree.self
        case .doubleTree: return DoubleTree.self
        case .recursiveDoubling: return RecursiveDoubling.self
        case .rabenseifner: return Rabenseifner.self
        case .direct: return Direct.self
        case .mpi, .auto, .topoRing, .hierarchical, .torus, .dragonfly: return nil
        }
    }

    /// The collectives `algorithm` can run (every collective for `mpi` and `auto`).
    public static func collectives(servedBy algorithm: Algorithm) -> [Collective] {
        if algorithm.needsTopology { return algorithm == .topoRing ? [.allreduce, .reduceScatter, .allgather] : [.allreduce] }
        return generator(for: algorithm)?.collectives ?? Collective.allCases
    }

    /// Generates the schedule of `algorithm` for `collective` on `ranks` ranks.
    public static func make(_ collective: Collective, algorithm: Algorithm, ranks: Int, root: Int = 0,
                            segments: Int = 1) throws -> Schedule {
        if algorithm.needsTopology { throw ScheduleError.needsTopology(algorithm) }
        guard let generator = generator(for: algorithm) else { throw ScheduleError.notScheduled(algorithm) }
        guard ranks >= 1 else { throw ScheduleError.invalidRanks(ranks) }
        guard root >= 0 && root < ranks else { throw ScheduleError.invalidRoot(root: root, ranks: ranks) }
        guard generator.collectives.contains(collective) else {
            throw ScheduleError.unsupported(algorithm: algorithm, collective: collective,
                                            supported: generator.collectives)
        }
        return generator.make(collective, ranks: ranks, root: root, segments: max(1, segments))
    }
}
