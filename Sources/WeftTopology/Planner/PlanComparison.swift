/// Every candidate algorithm for a collective simulated at each size on one network: the
/// planner's decision and its explanation (`weft topo plan --explain`) come from the same
/// table, so what is explained is what was decided.
public struct PlanComparison {
    /// One candidate at one size.
    public struct Candidate: Codable, Sendable {
        public var collective: String
        public var bytes: Int
        public var algorithm: Algorithm
        public var time_us: Double
        public var steps: Int
        /// The injection bound (what every endpoint link must carry, at its bandwidth) and
        /// the time over it.
        public var bound_us: Double
        public var over_bound: Double
        /// The link class whose busiest link is busy longest, and the bytes that link carries
        /// as a multiple of the message (from one simulation per schedule; nil unless asked).
        public var busiest_class: String?
        public var busiest_bytes_per_message: Double?
        public var chosen: Bool
    }

    /// Most ranks `weft topo plan` (and `topo simulate --algorithm all`) weighs: every
    /// candidate's schedule is built and replayed at every size, which grows faster than the
    /// square of the ranks — on our 2-core machine 1K ranks take 40 s, 2K 2 minutes, 4K
    /// 5 minutes and 3 GB. 4K keeps every shipped descriptor (2,112 endpoints at most).
    public static let maximumRanks = 4_096
    public static let maximumRanksCost = "every candidate at every size: 4K ranks take about 5 minutes and 3 GB"

    public let network: Network
    public let placement: [Int]
    /// Ranks grouped by endpoint: the node layout `two-level` is built on.
    let nodes: [[Int]]
    let simulator: Simulator
    /// Bytes per second of the slowest link out of a rank's endpoint.
    let injection: Double

    public init(network: Network, descriptor: Descriptor, ranks: Int) throws {
        self.network = network
        placement = try Placement.endpoints(ranks: ranks, network: network, descriptor: descriptor)
        nodes = Placement.nodes(placement)
        simulator = Simulator(network: network, router: Router(network: network, policy: descriptor.routing),
                              placement: placement)
        injection = placement.map { e in
            network.adjacency[e].map { network.classes[network.links[$0.link].linkClass].bandwidth }.max() ?? 0
        }.min() ?? 0
    }

    /// Lower bound on any algorithm, in µs: the bytes every endpoint must move through its
    /// link (2(n−1)/n of the message for allreduce, (n−1)/n for the block-wise and all-to-all
    /// ones, the whole message for the rooted ones, nothing for a barrier), n the endpoints
    /// holding ranks: ranks sharing one (a host's) can combine their data in memory first.
    public func bound(_ collective: Collective, bytes: Int) -> Double {
        guard injection > 0 else { return 0 }
        return PlanComparison.injectedBytes(collective, bytes: bytes, endpoints: Set(placement).count) / injection * 1e6
    }

    /// Bytes every one of `endpoints` participating endpoints must move through its link.
    public static func injectedBytes(_ collective: Collective, bytes: Int, endpoints: Int) -> Double {
        let n = Double(endpoints), b = Double(bytes)
        guard n > 1 else { return 0 }
        switch collective {
        case .allreduce: return 2 * (n - 1) / n * b
        case .reduceScatter, .allgather, .alltoall: return (n - 1) / n * b
        case .broadcast, .reduce: return b
        case .barrier: return 0
        }
    }

    /// Per size (in the order given), every candidate that can run here, fastest first, the
    /// fastest marked chosen. Candidates whose placement they cannot use are left out.
    public func compare(_ collective: Collective, sizes: [Int], linkLoads: Bool) -> [[Candidate]] {
        var table = [[Candidate]](repeating: [], count: sizes.count)
        let ranks = placement.count
        for algorithm in Plan.candidates(collective, network: network, placement: placement) {
            // Sizes grouped by how many segments the algorithm cuts them into (one schedule each).
            var groups: [Int: [Int]] = [:]
            for (k, bytes) in sizes.enumerated() {
                groups[Schedules.segments(for: collective, algorithm: algorithm, bytes: bytes, ranks: ranks), default: []]
                    .append(k)
            }
            for (segments, indices) in groups.sorted(by: { $0.key < $1.key }) {
                guard let schedule = try? Schedules.make(collective, algorithm: algorithm, ranks: ranks, segments: segments,
                                                         network: network, placement: placement, nodes: nodes)
                else { continue }
                let results = simulator.simulate(schedule, sizes: indices.map { sizes[$0] })
                var busiest: (String, Double)?
                if linkLoads, let reference = indices.map({ sizes[$0] }).max(), reference > 0,
                   let top = simulator.linkLoads(schedule, bytes: reference).first {
                    busiest = (top.link_class, top.bytes / Double(reference))
                }
                for (k, result) in zip(indices, results) {
                    let bound = bound(collective, bytes: sizes[k])
                    table[k].append(Candidate(collective: collective.rawValue, bytes: sizes[k], algorithm: algorithm,
                                              time_us: result.time_us, steps: result.steps, bound_us: bound,
                                              over_bound: bound > 0 ? result.time_us / bound : 0,
                                              busiest_class: busiest?.0, busiest_bytes_per_message: busiest?.1,
                                              chosen: false))
                }
            }
        }
        for k in table.indices {
            // Stable: equal times keep the candidates' order (flat algorithms first).
            table[k] = table[k].enumerated().sorted { ($0.element.time_us, $0.offset) < ($1.element.time_us, $1.offset) }
                .map(\.element)
            if !table[k].isEmpty { table[k][0].chosen = true }
        }
        return table
    }
}
