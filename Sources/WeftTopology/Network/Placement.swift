/// Where ranks run: rank i on endpoint `placement[i]`, by the descriptor's policy —
/// `linear` (in endpoint order), `round-robin` (one per switch in turn), `random` (seeded)
/// or `hosts` (an explicit list of endpoint names). With `ranks_per_endpoint = k` the policy
/// orders the endpoints and each takes k consecutive ranks, as mpirun fills a host's slots
/// before the next: a host of k ranks behind one NIC.
public enum Placement {
    /// Ranks the network holds: every endpoint × `ranks_per_endpoint` (the default job size).
    public static func capacity(network n: Network, descriptor d: Descriptor) -> Int { n.endpoints * d.ranksPerEndpoint }

    public static func endpoints(ranks: Int, network n: Network, descriptor d: Descriptor) throws -> [Int] {
        guard ranks >= 1 else { throw TopologyError(file: d.file, key: "ranks", "must be at least 1") }
        let k = d.ranksPerEndpoint
        guard ranks <= capacity(network: n, descriptor: d) else {
            let limit = k == 1 ? "the network's \(n.endpoints) endpoints"
                : "the network's \(n.endpoints) endpoints × \(k) ranks per endpoint = \(capacity(network: n, descriptor: d))"
            throw TopologyError(file: d.file, key: "placement",
                                "\(ranks) ranks exceed \(limit); use fewer ranks or a larger network")
        }
        let hosts = (ranks + k - 1) / k
        let order = try endpointOrder(hosts, network: n, descriptor: d)
        return (0..<ranks).map { order[$0 / k] }
    }

    /// The first `count` endpoints in the order of the descriptor's policy.
    private static func endpointOrder(_ count: Int, network n: Network, descriptor d: Descriptor) throws -> [Int] {
        switch d.placement {
        case "round-robin":
            var bySwitch = [[Int]](repeating: [], count: n.switches)
            for e in 0..<n.endpoints { bySwitch[n.switchOf[e]].append(e) }
            var order: [Int] = []
            var round = 0
            while order.count < count {
                for s in 0..<n.switches where round < bySwitch[s].count && order.count < count { order.append(bySwitch[s][round]) }
                round += 1
            }
            return order
        case "random":
            var random = d.placementSeed &+ 0x9E37_79B9
            var all = Array(0..<n.endpoints)
            for i in stride(from: all.count - 1, to: 0, by: -1) {
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                all.swapAt(i, Int((random >> 33) % UInt64(i + 1)))
            }
            return Array(all.prefix(count))
        case "hosts":
            guard d.hosts.count >= count else {
                let ranks = d.ranksPerEndpoint == 1 ? "\(count) ranks" : "\(count) endpoints of \(d.ranksPerEndpoint) ranks"
                throw TopologyError(file: d.file, key: "placement.hosts", "lists \(d.hosts.count) hosts for \(ranks); list at least \(count)")
            }
            let index = Dictionary(n.endpointNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            return try d.hosts.prefix(count).map {
                guard let e = index[$0] else {
                    throw TopologyError(file: d.file, key: "placement.hosts", "'\($0)' is not an endpoint of the network")
                }
                return e
            }
        default:
            return Array(0..<count)
        }
    }

    /// Ranks grouped by endpoint, in order of first appearance: the node layout `two-level`
    /// builds on when a descriptor puts several ranks on one endpoint.
    public static func nodes(_ placement: [Int]) -> [[Int]] { TwoLevel.nodes(fromKeys: placement) }

    /// Whether some endpoint holds more than one rank (only then is `two-level` not a ring).
    public static func sharesEndpoints(_ placement: [Int]) -> Bool { Set(placement).count < placement.count }
}
