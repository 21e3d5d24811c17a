/// The one entry point for every scheduled algorithm: the list of generators, and
/// `make`, which checks a request against the generator's declarations and builds it.
public enum Schedules {
    /// Every generator, one per scheduled algorithm.
    public static let generators: [any ScheduleGenerator.Type] = [
        Ring.self, BinomialTree.self, DoubleTree.self, RecursiveDoubling.self, Rabenseifner.self, Direct.self,
        TwoLevel.self, TopoRing.self, Hierarchical.self, TorusLevels.self, DragonflyLevels.self,
    ]

    public static func generator(for algorithm: Algorithm) -> (any ScheduleGenerator.Type)? {
        generators.first { $0.algorithm == algorithm }
    }

    /// The collectives `algorithm` can run (every collective for `mpi` and `auto`).
    public static func collectives(servedBy algorithm: Algorithm) -> [Collective] {
        generator(for: algorithm)?.collectives ?? Collective.allCases
    }

    /// Whether the planner should weigh `algorithm` on a network of `kind`.
    public static func suits(_ algorithm: Algorithm, _ kind: NetworkKind) -> Bool {
        guard let g = generator(for: algorithm) else { return false }
        return g.networks.map { $0.contains(kind) } ?? true
    }

    /// Generates the schedule of `algorithm` for `collective` on `ranks` ranks. Topology-aware
    /// algorithms need `network` and `placement` (one endpoint per rank); `two-level` needs
    /// `nodes`.
    public static func make(_ collective: Collective, algorithm: Algorithm, ranks: Int, root: Int = 0,
                            segments: Int = 1, network: Network? = nil, placement: [Int]? = nil,
                            nodes: [[Int]]? = nil) throws -> Schedule {
        guard let generator = generator(for: algorithm) else { throw ScheduleError.notScheduled(algorithm) }
        guard ranks >= 1 else { throw ScheduleError.invalidRanks(ranks) }
        guard root >= 0 && root < ranks else { throw ScheduleError.invalidRoot(root: root, ranks: ranks) }
        guard generator.collectives.contains(collective) else {
            throw ScheduleError.unsupported(algorithm: algorithm, collective: collective,
                                            supported: generator.collectives)
        }
        switch generator.requirement {
        case .ranks:
            break
        case .topology:
            guard let network, let placement else { throw ScheduleError.needsTopology(algorithm) }
            guard placement.count == ranks else {
                throw ScheduleError.irregular(algorithm, "the placement lists \(placement.count) endpoints for \(ranks) ranks")
            }
            if let kinds = generator.networks, !kinds.contains(network.kind) {
                throw ScheduleError.irregular(algorithm, "the network is a \(network.kind); '\(algorithm.rawValue)' suits "
                    + kinds.map(\.rawValue).joined(separator: ", "))
            }
        case .nodeLayout:
            guard nodes != nil else { throw ScheduleError.needsNodeLayout(algorithm) }
        }
        let request = ScheduleRequest(collective: collective, ranks: ranks, root: root, segments: max(1, segments),
                                      network: network, placement: placement, nodes: nodes)
        return try generator.make(request)
    }

    /// The request's `segments` for a message of `bytes` on `algorithm` (its generator's
    /// `segments(for:bytes:ranks:)`). The executor and the simulator both use it, so
    /// predictions replay what runs.
    public static func segments(for collective: Collective, algorithm: Algorithm, bytes: Int, ranks: Int) -> Int {
        generator(for: algorithm)?.segments(for: collective, bytes: bytes, ranks: ranks) ?? 1
    }

    /// Pieces a pipelined algorithm splits a message into: about 256 KiB each, at most 32,
    /// and for block-wise collectives at most 4096 chunks in all (a block per rank per
    /// piece: more only slows the packer down).
    public static func pipelineSegments(for collective: Collective, bytes: Int, ranks: Int) -> Int {
        let limit = collective.isBlockwise ? max(1, min(32, 4096 / max(ranks, 1))) : 32
        var segments = 1
        while segments * 2 <= limit && bytes / (segments * 2) >= 256 << 10 { segments *= 2 }
        return segments
    }
}
