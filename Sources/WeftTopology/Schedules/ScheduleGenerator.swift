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
        case .mpi, .auto, .topoRing, .hierarchical, .torus, .dragonfly, .twoLevel: return nil
        }
    }

    /// The collectives `algorithm` can run (every collective for `mpi` and `auto`).
    public static func collectives(servedBy algorithm: Algorithm) -> [Collective] {
        if algorithm.needsTopology { return algorithm == .topoRing ? [.allreduce, .reduceScatter, .allgather] : [.allreduce] }
        if algorithm == .twoLevel { return TwoLevel.collectives }
        return generator(for: algorithm)?.collectives ?? Collective.allCases
    }

    /// Generates the schedule of `algorithm` for `collective` on `ranks` ranks.
    public static func make(_ collective: Collective, algorithm: Algorithm, ranks: Int, root: Int = 0,
                            segments: Int = 1) throws -> Schedule {
        if algorithm.needsTopology { throw ScheduleError.needsTopology(algorithm) }
        if algorithm.needsNodeLayout { throw ScheduleError.needsNodeLayout(algorithm) }
        guard let generator = generator(for: algorithm) else { throw ScheduleError.notScheduled(algorithm) }
        guard ranks >= 1 else { throw ScheduleError.invalidRanks(ranks) }
        guard root >= 0 && root < ranks else { throw ScheduleError.invalidRoot(root: root, ranks: ranks) }
        guard generator.collectives.contains(collective) else {
            throw ScheduleError.unsupported(algorithm: algorithm, collective: collective,
                                            supported: generator.collectives)
        }
        return generator.make(collective, ranks: ranks, root: root, segments: max(1, segments))
    }

    /// Pieces a pipelined algorithm splits a message into: about 256 KiB each, at most 32
    /// (1 for algorithms that do not pipeline), and for block-wise collectives at most
    /// 4096 chunks in all (a block per rank per piece: more only slows the packer down).
    /// The executor and the simulator both use it, so predictions replay what runs.
    public static func segments(for collective: Collective, algorithm: Algorithm, bytes: Int, ranks: Int) -> Int {
        let limit = collective.isBlockwise ? max(1, min(32, 4096 / max(ranks, 1))) : 32
        switch (algorithm, collective) {
        case (.doubleTree, _), (.tree, .broadcast), (.tree, .reduce), (.tree, .allreduce), (.tree, .allgather),
             (.tree, .reduceScatter), (.ring, .broadcast), (.ring, .reduce):
            var segments = 1
            while segments * 2 <= limit && bytes / (segments * 2) >= 256 << 10 { segments *= 2 }
            return segments
        default:
            return 1
        }
    }
}
