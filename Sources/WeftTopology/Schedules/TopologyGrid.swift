/// Helpers the topology-aware generators share: ranks laid on a grid of levels from
/// per-rank keys (switch, group, coordinates), and ring orders along mesh dimensions.
enum TopologyGrid {
    /// The distinct values of a dimension's coordinate in an order whose consecutive
    /// routers (and last to first) are linked when the links allow it — a Hamiltonian
    /// cycle of the dimension, found by depth-first search (dimensions are small) —
    /// else folded (0, 2, 4, …, 5, 3, 1: every hop spans at most two routers).
    static func ringOrder(network n: Network, dimension d: Int, values: [Int]) -> [Int] {
        let positions = Array(Set(values)).sorted()
        let count = positions.count
        guard count > 2 else { return Array(0..<count) }
        // Links between positions along d, read from the routers of the first line.
        let line = n.coordinates.indices.filter { s in
            n.coordinates[s].indices.allSatisfy { $0 == d || n.coordinates[s][$0] == n.coordinates[0][$0] }
        }
        var linked = Set<[Int]>()
        for s in line {
            for (neighbour, _) in n.adjacency[n.node(ofSwitch: s)] where neighbour >= n.endpoints {
                let t = neighbour - n.endpoints
                guard line.contains(t), let a = positions.firstIndex(of: n.coordinates[s][d]),
                      let b = positions.firstIndex(of: n.coordinates[t][d]) else { continue }
                linked.insert([a, b])
            }
        }
        var path = [0], used = [Bool](repeating: false, count: count)
        used[0] = true
        var budget = 100_000
        func extend() -> Bool {
            budget -= 1
            if budget < 0 { return false }
            if path.count == count { return linked.contains([path.last!, 0]) }
            for next in 0..<count where !used[next] && linked.contains([path.last!, next]) {
                used[next] = true
                path.append(next)
                if extend() { return true }
                path.removeLast()
                used[next] = false
            }
            return false
        }
        if extend() { return path }
        return Array(stride(from: 0, to: count, by: 2)) + Array(stride(from: count % 2 == 0 ? count - 1 : count - 2, through: 1, by: -2))
    }

    /// Per router of a grid network, its position on a snake through all routers: the
    /// outermost dimension slowest, each dimension in its `ringOrder`, an inner dimension
    /// reversed whenever the digit outside it is odd (a reflected mixed-radix Gray code),
    /// so consecutive routers differ by one ring step in one dimension.
    static func snakeIndex(network n: Network) -> [Int] {
        guard let dims = n.coordinates.first?.count, dims > 0 else { return Array(n.coordinates.indices) }
        let orders = (0..<dims).map { d in ringOrder(network: n, dimension: d, values: n.coordinates.map { $0[d] }) }
        let values = (0..<dims).map { d in Array(Set(n.coordinates.map { $0[d] })).sorted() }
        // position[d][coordinate value] = index of that value in the dimension's ring order.
        let position = (0..<dims).map { d -> [Int: Int] in
            Dictionary(uniqueKeysWithValues: orders[d].enumerated().map { (values[d][$1], $0) })
        }
        return n.coordinates.map { c in
            var index = 0, flip = false
            for d in stride(from: dims - 1, through: 0, by: -1) {
                let size = values[d].count
                var p = position[d][c[d]]!
                if flip { p = size - 1 - p }
                index = index * size + p
                flip = p % 2 == 1
            }
            return index
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
