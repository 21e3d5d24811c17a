/// Where ranks run: rank i on endpoint `placement[i]`, by the descriptor's policy —
/// `linear` (in endpoint order), `round-robin` (one per switch in turn), `random` (seeded)
/// or `hosts` (an explicit list of endpoint names).
public enum Placement {
    public static func endpoints(ranks: Int, network n: Network, descriptor d: Descriptor) throws -> [Int] {
        guard ranks >= 1 else { throw TopologyError(file: d.file, key: "ranks", "must be at least 1") }
        guard ranks <= n.endpoints else {
            throw TopologyError(file: d.file, key: "placement",
                                "\(ranks) ranks exceed the network's \(n.endpoints) endpoints; use fewer ranks or a larger network")
        }
        switch d.placement {
        case "round-robin":
            var bySwitch = [[Int]](repeating: [], count: n.switches)
            for e in 0..<n.endpoints { bySwitch[n.switchOf[e]].append(e) }
            var order: [Int] = []
            var round = 0
            while order.count < ranks {
                for s in 0..<n.switches where round < bySwitch[s].count && order.count < ranks { order.append(bySwitch[s][round]) }
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
            return Array(all.prefix(ranks))
        case "hosts":
            guard d.hosts.count >= ranks else {
                throw TopologyError(file: d.file, key: "placement.hosts", "lists \(d.hosts.count) hosts for \(ranks) ranks; list at least \(ranks)")
            }
            let index = Dictionary(n.endpointNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            return try d.hosts.prefix(ranks).map {
                guard let e = index[$0] else {
                    throw TopologyError(file: d.file, key: "placement.hosts", "'\($0)' is not an endpoint of the network")
                }
                return e
            }
        default:
            return Array(0..<ranks)
        }
    }
}
