/// The numbers `weft topo show` prints: size, radix, distances between endpoints (counting
/// every link, endpoint links included), bisection and a cost estimate.
public struct NetworkMetrics: Codable, Sendable {
    public var endpoints: Int
    public var switches: Int
    public var links: Int
    public var links_by_class: [String: Int]
    public var radix: Int
    public var diameter_links: Int
    public var average_links: Double
    public var bisection_links: Int
    public var bisection_GBps: Double
    public var links_per_endpoint: Double
    public var cost: Double
    /// How the bisection was found: "closed form" or "heuristic".
    public var bisection_method: String

    public init(_ n: Network, descriptor: Descriptor? = nil) {
        endpoints = n.endpoints
        switches = n.switches
        links = n.links.count
        var byClass: [String: Int] = [:]
        for l in n.links { byClass[n.classes[l.linkClass].name, default: 0] += 1 }
        links_by_class = byClass
        radix = (0..<n.switches).map { n.adjacency[n.node(ofSwitch: $0)].count }.max() ?? 0
        (diameter_links, average_links) = NetworkMetrics.distances(n)
        (bisection_links, bisection_GBps, bisection_method) = NetworkMetrics.bisection(n, descriptor: descriptor)
        links_per_endpoint = Double(links) / Double(max(endpoints, 1))
        let ports = (0..<n.switches).reduce(0) { $0 + n.adjacency[n.node(ofSwitch: $1)].count }
        cost = Double(ports) * n.portPrice + n.links.reduce(0) { $0 + n.classes[$1.linkClass].price }
    }

    /// Hop counts between distinct endpoints: BFS over switches from every switch with endpoints.
    static func distances(_ n: Network) -> (Int, Double) {
        var perSwitch = [Int](repeating: 0, count: n.switches)
        for e in 0..<n.endpoints where n.switchOf[e] >= 0 { perSwitch[n.switchOf[e]] += 1 }
        let sources = (0..<n.switches).filter { perSwitch[$0] > 0 }
        var diameter = 0
        var total = 0.0, pairs = 0.0
        var distance = [Int32](repeating: -1, count: n.switches)
        var queue = [Int](repeating: 0, count: n.switches)
        for s in sources {
            for i in distance.indices { distance[i] = -1 }
            distance[s] = 0
            var head = 0, tail = 1
            queue[0] = s
            while head < tail {
                let v = queue[head]
                head += 1
                for (u, _) in n.adjacency[n.node(ofSwitch: v)] where u >= n.endpoints {
                    let t = u - n.endpoints
                    if distance[t] < 0 {
                        distance[t] = distance[v] + 1
                        queue[tail] = t
                        tail += 1
                    }
                }
            }
            for t in sources {
                let count = t == s ? perSwitch[s] * (perSwitch[s] - 1) : perSwitch[s] * perSwitch[t]
                guard count > 0 else { continue }
                let links = Int(distance[t]) + 2
                diameter = max(diameter, links)
                total += Double(links) * Double(count)
                pairs += Double(count)
            }
        }
        return (diameter, pairs > 0 ? total / pairs : 0)
    }

    /// Links and bandwidth across the worst balanced cut of the endpoints. Closed forms for
    /// the regular kinds; for custom networks (and Slurm trees) the minimum over cuts that
    /// split a breadth-first order of the switches from each switch — an upper bound on
    /// the true bisection, exact for trees and rings.
    static func bisection(_ n: Network, descriptor d: Descriptor?) -> (Int, Double, String) {
        func bw(_ name: String) -> Double { n.classes.first { $0.name == name }?.bandwidth ?? 0 }
        guard let d else { return heuristicBisection(n) }
        let i = d.integers
        switch n.kind {
        case .singleNode:
            return (n.endpoints / 2, Double(n.endpoints / 2) * bw("memory") / 1e9, "closed form")
        case .fatTree:
            let k = i["k"] ?? 2, levels = i["levels"] ?? 3
            // Full bisection at 1:1: half the hosts' links cross the middle, thinned by r.
            let crossing = levels == 2 ? (k / 2) * (k / 2) : (k * k * k / 4) / 2
            return (crossing, Double(crossing) * bw("fabric") / 1e9, "closed form")
        case .torus:
            let dims = d.dimensions
            guard let largest = dims.indices.max(by: { dims[$0] < dims[$1] }), dims[largest] > 1 else {
                return (0, 0, "closed form")
            }
            let wraps = d.wrap.isEmpty ? true : (d.wrap.count == 1 ? d.wrap[0] : d.wrap[largest])
            let others = dims.reduce(1, *) / dims[largest]
            let crossing = others * (wraps && dims[largest] > 2 ? 2 : 1)
            return (crossing, Double(crossing) * bw("network") / 1e9, "closed form")
        case .expressMesh:
            // Halve the largest dimension: per line, the mesh link and every express link
            // that jumps over the middle.
            let dims = d.dimensions
            guard let largest = dims.indices.max(by: { dims[$0] < dims[$1] }), dims[largest] > 1 else {
                return (0, 0, "closed form")
            }
            let s = dims[largest], e = i["express"] ?? 4, lines = dims.reduce(1, *) / s
            let jumps = e >= 2 ? (0..<s).filter { $0 < s / 2 && $0 + e >= s / 2 && $0 + e < s }.count : 0
            return (lines * (1 + jumps), Double(lines) * (bw("network") + Double(jumps) * bw("express")) / 1e9, "closed form")
        case .hyperx:
            let dims = d.dimensions
            guard let largest = dims.indices.max(by: { dims[$0] < dims[$1] }), dims[largest] > 1 else {
                return (0, 0, "closed form")
            }
            let s = dims[largest], lines = dims.reduce(1, *) / s
            let crossing = lines * (s / 2) * (s - s / 2)
            return (crossing, Double(crossing) * bw("network") / 1e9, "closed form")
        case .dragonfly, .dragonflyPlus:
            let g = i["g"] ?? 2
            var perPair = [Int: Int]()
            for l in n.links where n.classes[l.linkClass].name == "global" {
                let x = n.coordinates[l.a - n.endpoints][0], y = n.coordinates[l.b - n.endpoints][0]
                perPair[min(x, y) * g + max(x, y), default: 0] += 1
            }
            // Groups 0..<g/2 against the rest (the arrangement is symmetric).
            var crossing = 0
            for (key, count) in perPair where (key / g < g / 2) != (key % g < g / 2) { crossing += count }
            return (crossing, Double(crossing) * bw("global") / 1e9, "closed form")
        default:
            return heuristicBisection(n)
        }
    }

    static func heuristicBisection(_ n: Network) -> (Int, Double, String) {
        var best = (Int.max, Double.infinity)
        let starts = Array(stride(from: 0, to: n.switches, by: max(1, n.switches / 16)))
        for start in starts {
            // Breadth-first order of switches; endpoints follow their switch.
            var order: [Int] = [], seen = [Bool](repeating: false, count: n.switches)
            var queue = [start]
            seen[start] = true
            while !queue.isEmpty {
                let v = queue.removeFirst()
                order.append(v)
                for (u, _) in n.adjacency[n.node(ofSwitch: v)] where u >= n.endpoints && !seen[u - n.endpoints] {
                    seen[u - n.endpoints] = true
                    queue.append(u - n.endpoints)
                }
            }
            var side = [Bool](repeating: false, count: n.nodes), taken = 0
            for s in order {
                let members = (0..<n.endpoints).filter { n.switchOf[$0] == s }
                for e in members where taken < n.endpoints / 2 {
                    side[e] = true
                    taken += 1
                }
                if taken <= n.endpoints / 2 && !members.isEmpty && members.allSatisfy({ side[$0] }) { side[n.node(ofSwitch: s)] = true }
                if members.isEmpty && taken < n.endpoints / 2 { side[n.node(ofSwitch: s)] = true }
            }
            var links = 0, bandwidth = 0.0
            for l in n.links where side[l.a] != side[l.b] {
                links += 1
                bandwidth += n.classes[l.linkClass].bandwidth
            }
            if bandwidth < best.1 { best = (links, bandwidth) }
        }
        return (best.0 == Int.max ? 0 : best.0, best.1.isFinite ? best.1 / 1e9 : 0, "heuristic")
    }
}
