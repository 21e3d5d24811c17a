/// Predicted communication per training step of data-parallel training, deep mutual
/// learning and co-distillation for one model on one network, from the simulator: each
/// method's collectives are built as schedules on the ranks that run them, concurrent
/// ones (every group's allreduce at once) merged step by step, so they contend for links
/// as they would.
public final class CommunicationForecast {
    public struct Line: Sendable, Codable {
        public var method: String
        public var ranks: Int
        public var groups: Int
        /// Bytes per step summed over ranks, inside groups and across them.
        public var bytes_in_group: Double
        public var bytes_across_groups: Double
        public var time_us_per_step: Double
        public var algorithms: String
    }

    public let network: Network
    public let placement: [Int]
    let simulator: Simulator

    public init(network: Network, descriptor: Descriptor, ranks: Int) throws {
        self.network = network
        placement = try Placement.endpoints(ranks: ranks, network: network, descriptor: descriptor)
        simulator = Simulator(network: network, router: Router(network: network, policy: descriptor.routing),
                              placement: Array(0..<network.endpoints))
    }

    /// World ranks in network order, cut into `groups` equal groups (as `PeerGroups` does).
    func groupsOfRanks(_ groups: Int) -> [[Int]] {
        let n = network, p = placement
        let order = placement.indices.sorted {
            (n.groupOf[p[$0]], n.switchOf[p[$0]], p[$0]) < (n.groupOf[p[$1]], n.switchOf[p[$1]], p[$1])
        }
        let size = order.count / groups
        return (0..<groups).map { Array(order[($0 * size)..<(($0 + 1) * size)]) }
    }

    /// The schedule of `algorithm` among `ranks` (world ranks), on their endpoints.
    /// Kept per (algorithm, collective, segments, ranks): a search asks for the same sets at
    /// many sizes, and building a tree on 16K ranks takes seconds.
    func schedule(_ algorithm: Algorithm, _ collective: Collective, bytes: Int, ranks: [Int]) -> Schedule? {
        let segments = Schedules.segments(for: collective, algorithm: algorithm, bytes: bytes, ranks: ranks.count)
        let key = ScheduleKey(algorithm: algorithm, collective: collective, segments: segments, ranks: ranks)
        if let known = schedules[key] { return known }
        let endpoints = ranks.map { placement[$0] }
        let made = try? Schedules.make(collective, algorithm: algorithm, ranks: ranks.count, segments: segments,
                                       network: network, placement: endpoints, nodes: Placement.nodes(endpoints))
        let onEndpoints = made?.onEndpoints(endpoints)
        schedules[key] = onEndpoints
        return onEndpoints
    }

    struct ScheduleKey: Hashable {
        var algorithm: Algorithm
        var collective: Collective
        var segments: Int
        var ranks: [Int]
    }

    private var schedules: [ScheduleKey: Schedule?] = [:]

    /// The algorithm the planner's costing picks for `collective` of `bytes` run by every
    /// set of `sets` at once (the same algorithm everywhere, as the job would run), and
    /// the predicted time of them all together.
    func fastest(_ collective: Collective, bytes: Int, sets: [[Int]]) -> (name: String, microseconds: Double) {
        guard let first = sets.first, first.count > 1 else { return ("none", 0) }
        var best: (String, Double)?
        // Cheapest lower bound first; a candidate whose bound (every step pays the software
        // overhead, and every endpoint moves its share at its link's bandwidth) already
        // exceeds the best time is not simulated: on 16K ranks a ring's 33K steps alone
        // outlast a tree, and walking them would take minutes.
        let endpoints = Set(first.map { placement[$0] }).count
        let fastestLink = Set(sets.joined().map { placement[$0] }).map { e in
            network.adjacency[e].map { network.classes[network.links[$0.link].linkClass].bandwidth }.max() ?? 0
        }.max() ?? 0
        let moved = fastestLink > 0
            ? PlanComparison.injectedBytes(collective, bytes: bytes, endpoints: endpoints) / fastestLink * 1e6 : 0
        let layout = first.map { placement[$0] }
        let candidates = Plan.candidates(collective, network: network, placement: layout).filter { $0 != .direct }.compactMap {
            algorithm -> (Algorithm, [Schedule], Double)? in
            let parts = sets.compactMap { schedule(algorithm, collective, bytes: bytes, ranks: $0) }
            guard parts.count == sets.count else { return nil }
            let steps = parts.map(\.stepCount).max() ?? 0
            return (algorithm, parts, Double(steps) * simulator.overhead * 1e6 + moved)
        }.sorted { $0.2 < $1.2 }
        for (algorithm, parts, lowerBound) in candidates {
            if let best, lowerBound >= best.1 { continue }
            let t = simulator.simulate(Schedule.merged(parts), bytes: bytes).time_us
            if best == nil || t < best!.1 { best = (algorithm.rawValue, t) }
        }
        return best ?? ("none", 0)
    }

    /// Predicted time of a gradient allreduce of `bytes` over every rank, with the
    /// algorithm the planner's costing picks.
    /// Between powers of two the time is interpolated linearly from the two around it, each
    /// simulated once and kept: a search scoring hundreds of models of different sizes
    /// simulates a few sizes, not hundreds (seconds each on 16K endpoints).
    public func allreduce(bytes: Int) -> (name: String, microseconds: Double) {
        guard bytes > 8 else { return allreduceAtPowerOfTwo(8) }
        let high = 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount), low = high / 2
        let a = allreduceAtPowerOfTwo(low), b = allreduceAtPowerOfTwo(high)
        let f = Double(bytes - low) / Double(high - low)
        return (f < 0.5 ? a.name : b.name, a.microseconds + f * (b.microseconds - a.microseconds))
    }

    private var allreduceByPower: [Int: (name: String, microseconds: Double)] = [:]

    private func allreduceAtPowerOfTwo(_ bytes: Int) -> (name: String, microseconds: Double) {
        if let known = allreduceByPower[bytes] { return known }
        let result = fastest(.allreduce, bytes: bytes, sets: [Array(0..<placement.count)])
        allreduceByPower[bytes] = result
        return result
    }

    /// Per-step forecast for a model of `parameters` floats, `batch` samples per rank,
    /// `classes` outputs; `groups` for the group methods, exchanges every `exchangeEvery`.
    /// Bytes count what every rank hands to collectives, summed over ranks.
    public func forecast(parameters: Int, batch: Int, classes: Int, groups: Int, exchangeEvery: Int) -> [Line] {
        let ranks = placement.count
        let gradientBytes = parameters * 4
        var lines: [Line] = []
        let dp = fastest(.allreduce, bytes: gradientBytes, sets: [Array(0..<ranks)])
        lines.append(Line(method: "dp", ranks: ranks, groups: 1, bytes_in_group: Double(gradientBytes * ranks),
                          bytes_across_groups: 0, time_us_per_step: dp.microseconds, algorithms: "allreduce \(dp.name)"))
        guard groups > 1 && ranks % groups == 0 else { return lines }
        let members = groupsOfRanks(groups)
        let size = ranks / groups
        // In-group gradient allreduces, all groups at once.
        let inGroup = fastest(.allreduce, bytes: gradientBytes, sets: members)
        let inGroupBytes = size > 1 ? Double(gradientBytes * ranks) : 0
        // Cross-group sets: the ranks at position j of every group.
        let positions = (0..<size).map { j in members.map { $0[j] } }
        // Mutual learning: every step, an allgather of each peer's logits (+ its loss).
        let logitBytes = (batch * classes + 1) * 4 * groups
        let gather = fastest(.allgather, bytes: logitBytes, sets: positions)
        lines.append(Line(method: "dml", ranks: ranks, groups: groups, bytes_in_group: inGroupBytes,
                          bytes_across_groups: Double(logitBytes / groups * ranks),
                          time_us_per_step: inGroup.microseconds + gather.microseconds,
                          algorithms: "allreduce \(inGroup.name), allgather \(gather.name)"))
        // Co-distillation: every group's weights among the groups' first ranks, then a
        // broadcast inside each group, once every `exchangeEvery` steps.
        let weightBytes = gradientBytes * groups
        let exchange = fastest(.allgather, bytes: weightBytes, sets: [positions[0]])
        let spread = fastest(.broadcast, bytes: weightBytes, sets: members)
        let period = Double(max(exchangeEvery, 1))
        lines.append(Line(method: "codistill", ranks: ranks, groups: groups,
                          bytes_in_group: inGroupBytes + (size > 1 ? Double(weightBytes * ranks) / period : 0),
                          bytes_across_groups: Double(gradientBytes * groups) / period,
                          time_us_per_step: inGroup.microseconds + (exchange.microseconds + spread.microseconds) / period,
                          algorithms: "allreduce \(inGroup.name), weights allgather \(exchange.name) + broadcast \(spread.name) every \(exchangeEvery)"))
        return lines
    }
}

extension Schedule {
    /// The schedule with rank r played by endpoint endpoints[r] (ranks in its operations
    /// are endpoints, so schedules of disjoint rank sets can be merged and simulated
    /// together; `ranks` stays the participant count, which sizes the blocks). Made on
    /// demand, step by step, as the simulator asks: a 16K-rank ring is never in memory.
    func onEndpoints(_ endpoints: [Int]) -> Schedule {
        let source = self
        let streamed = Schedule(collective: collective, algorithm: algorithm, ranks: ranks, root: root, layout: layout,
                                stepCount: stepCount) { source.step($0) }
        return streamed.mappingOperations { op, out in
            switch op {
            case .transfer(let from, let to, let source, let destination, let reduce):
                out.append(.transfer(from: endpoints[from], to: endpoints[to], source: source, destination: destination,
                                     reduce: reduce))
            case .localCopy(let rank, let source, let destination):
                out.append(.localCopy(rank: endpoints[rank], source: source, destination: destination))
            case .shared(let rank, let from, let source, let to, let destination, let reduce):
                out.append(.shared(rank: endpoints[rank], from: from.map { endpoints[$0] }, source: source,
                                   to: to.map { endpoints[$0] }, destination: destination, reduce: reduce))
            }
        }
    }

    /// Schedules running at the same time, step i of each in step i of the result (made on
    /// demand too).
    static func merged(_ parts: [Schedule]) -> Schedule {
        let first = parts[0]
        let count = parts.map(\.stepCount).max() ?? 0
        return Schedule(collective: first.collective, algorithm: first.algorithm, ranks: first.ranks,
                        root: first.root, layout: first.layout, stepCount: count) { i in
            parts.flatMap { i < $0.stepCount ? $0.step(i) : [] }
        }
    }
}
