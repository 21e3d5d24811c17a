/// Builds the topology-aware schedules from a network and a placement of ranks.
public enum TopologySchedules {
    public static func make(_ collective: Collective, algorithm: Algorithm, network n: Network, placement: [Int])
        throws -> Schedule
    {
        guard Schedules.collectives(servedBy: algorithm).contains(collective) else {
            throw ScheduleError.unsupported(algorithm: algorithm, collective: collective,
                                            supported: Schedules.collectives(servedBy: algorithm))
        }
        let ranks = placement.count
        switch algorithm {
        case .topoRing:
            // Ranks sorted by (group, switch, endpoint): the ring leaves each group once.
            let order = (0..<ranks).sorted {
                (n.groupOf[placement[$0]], n.switchOf[placement[$0]], placement[$0])
                    < (n.groupOf[placement[$1]], n.switchOf[placement[$1]], placement[$1])
            }
            if [.allreduce, .reduceScatter, .allgather].contains(collective) {
                return Ring.ordered(collective, order: order, algorithm: .topoRing)
            }
            return try Schedules.make(collective, algorithm: .ring, ranks: ranks).relabelled(order).renamed(.topoRing)
        case .hierarchical:
            // Level 0: ranks on one switch (ring); level 1: across switches.
            let grid = try grid(keys: placement.map { [n.switchOf[$0]] }, algorithm: algorithm, modes: [.ring, .ring])
            return MultiLevel.allreduce(grid, algorithm: algorithm)
        case .dragonfly:
            guard n.kind == "dragonfly" || n.kind == "dragonfly-plus" else {
                throw ScheduleError.irregular(algorithm, "the network is a \(n.kind), not a dragonfly")
            }
            // Router, group; inside the router and the group rings, across groups pairwise.
            let keys = placement.map { e -> [Int] in
                let s = n.switchOf[e]
                return [n.coordinates[s][1], n.coordinates[s][0]]
            }
            return MultiLevel.allreduce(try grid(keys: keys, algorithm: algorithm, modes: [.ring, .ring, .pairwise]),
                                        algorithm: algorithm)
        case .torus:
            guard ["torus", "hyperx", "express-mesh"].contains(n.kind) else {
                throw ScheduleError.irregular(algorithm, "the network is a \(n.kind), not a torus")
            }
            let keys = placement.map { n.coordinates[n.switchOf[$0]] }
            let dims = keys.first?.count ?? 0
            return MultiLevel.allreduce(try grid(keys: keys, algorithm: algorithm, modes: [.ring] + Array(repeating: .ring, count: dims)),
                                        algorithm: algorithm)
        default:
            throw ScheduleError.notScheduled(algorithm)
        }
    }

    /// Grid coordinates from per-rank keys (outer levels): level 0 is the position among
    /// ranks sharing all keys, level k+1 the k-th key's rank among its distinct values.
    /// Refuses placements that do not fill the grid evenly.
    static func grid(keys: [[Int]], algorithm: Algorithm, modes: [MultiLevel.Mode]) throws -> MultiLevel.Grid {
        let depth = keys.first?.count ?? 0
        var values: [[Int]] = Array(repeating: [], count: depth)
        for k in 0..<depth { values[k] = Array(Set(keys.map { $0[k] })).sorted() }
        var position: [[Int]: Int] = [:]
        var coordinates: [[Int]] = []
        for key in keys {
            let local = position[key, default: 0]
            position[key] = local + 1
            coordinates.append([local] + (0..<depth).map { values[$0].firstIndex(of: key[$0])! })
        }
        let sizes = [position.values.max() ?? 1] + values.map(\.count)
        guard sizes.reduce(1, *) == keys.count, Set(coordinates.map { $0 }).count == keys.count,
              position.values.allSatisfy({ $0 == sizes[0] })
        else {
            throw ScheduleError.irregular(algorithm, "ranks do not fill the levels evenly (sizes \(sizes) for \(keys.count) ranks); "
                + "use a placement with the same number of ranks on every switch and group")
        }
        return MultiLevel.Grid(coordinates: coordinates, sizes: sizes, modes: Array(modes.prefix(sizes.count)))
    }
}
