/// Routes between endpoints as lists of directed channels. Minimal routing follows
/// shortest paths (ECMP: equal next hops chosen by a hash of the flow), which on a fat
/// tree is up/down routing and on a dragonfly is local–global–local; `dmodk` follows the
/// same shortest paths but picks among equal next hops by destination (D-mod-K: the
/// destination index modulo the choices, then divided by them for the next level up), as
/// InfiniBand subnet managers route fat trees, so flows to distinct destinations under
/// one switch never share an uplink; `dor` corrects torus
/// and HyperX coordinates one dimension at a time; `valiant` goes through a random
/// intermediate group; `ugal` picks, per flow, minimal or Valiant by estimated queueing.
public final class Router {
    public let network: Network
    public let policy: String
    /// Hop distance from every switch to destination switch d, computed on demand.
    private var distanceTo: [Int: [Int32]] = [:]

    public init(network: Network, policy: String) {
        self.network = network
        self.policy = policy
    }

    private func distances(to destination: Int) -> [Int32] {
        if let d = distanceTo[destination] { return d }
        let n = network
        var distance = [Int32](repeating: -1, count: n.switches)
        distance[destination] = 0
        var queue = [destination], head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            for (u, _) in n.adjacency[n.node(ofSwitch: v)] where u >= n.endpoints && distance[u - n.endpoints] < 0 {
                distance[u - n.endpoints] = distance[v] + 1
                queue.append(u - n.endpoints)
            }
        }
        distanceTo[destination] = distance
        return distance
    }

    /// Shortest switch path from switch s to switch t, next hops picked by `hash`.
    /// `destination` (an endpoint) steers `dmodk`; the others hash.
    private func minimalSwitchPath(from s: Int, to t: Int, hash: UInt64, destination: Int = 0) -> [Int] {
        let n = network
        if policy == "dor" && !n.coordinates.isEmpty { return dimensionOrder(from: s, to: t) }
        let distance = distances(to: t)
        var path: [Int] = []
        var v = s, h = hash, d = destination
        while v != t {
            let candidates = n.adjacency[n.node(ofSwitch: v)].filter {
                $0.node >= n.endpoints && distance[$0.node - n.endpoints] == distance[v] - 1
            }
            let pick: (node: Int, link: Int)
            if policy == "dmodk" {
                pick = candidates[d % candidates.count]
                d /= candidates.count
            } else {
                h = h &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                pick = candidates[Int((h >> 33) % UInt64(candidates.count))]
            }
            path.append(pick.link)
            v = pick.node - n.endpoints
        }
        return path
    }

    /// Dimension-order routing on torus/HyperX coordinates (shorter way round on rings).
    private func dimensionOrder(from s: Int, to t: Int) -> [Int] {
        let n = network
        var path: [Int] = []
        var v = s
        let target = n.coordinates[t]
        for d in target.indices {
            while n.coordinates[v][d] != target[d] {
                let neighbours = n.adjacency[n.node(ofSwitch: v)].filter { $0.node >= n.endpoints }
                // The neighbour that changes only dimension d and gets closer (or lands) there.
                let size = n.kind == .torus ? (n.coordinates.map { $0[d] }.max()! + 1) : Int.max
                func gap(_ x: Int) -> Int {
                    let raw = abs(x - target[d])
                    return n.kind == .torus ? min(raw, size - raw) : raw
                }
                let step = neighbours.filter { pair in
                    let c = n.coordinates[pair.node - n.endpoints]
                    return c.indices.allSatisfy { $0 == d || c[$0] == n.coordinates[v][$0] } && gap(c[d]) < gap(n.coordinates[v][d])
                }.min { gap(n.coordinates[$0.node - n.endpoints][d]) < gap(n.coordinates[$1.node - n.endpoints][d]) }
                guard let step else { return minimalSwitchPathIgnoringPolicy(from: v, to: t, prefix: path) }
                path.append(step.link)
                v = step.node - n.endpoints
            }
        }
        return path
    }

    private func minimalSwitchPathIgnoringPolicy(from s: Int, to t: Int, prefix: [Int]) -> [Int] {
        let saved = Router(network: network, policy: "minimal")
        return prefix + saved.minimalSwitchPath(from: s, to: t, hash: 0)
    }

    /// Links (as channels) from endpoint `a` to endpoint `b`. `load` gives the current
    /// number of flows on each channel (for UGAL).
    public func route(from a: Int, to b: Int, flow: UInt64 = 0, load: ((Int) -> Int)? = nil) -> [Int] {
        let n = network
        guard a != b else { return [] }
        let sa = n.switchOf[a], sb = n.switchOf[b]
        var switchLinks: [Int]
        let hash = flow &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(a) << 32 ^ UInt64(b)
        switch policy {
        case "valiant", "ugal":
            let minimal = minimalSwitchPath(from: sa, to: sb, hash: hash)
            let valiant = valiantPath(from: sa, to: sb, hash: hash)
            if policy == "valiant" {
                switchLinks = valiant
            } else {
                // UGAL-L: compare queue × hops on the first channel of each path.
                let q = { (links: [Int]) -> Int in
                    guard let load, let first = links.first else { return 0 }
                    return load(self.channels(links, start: n.node(ofSwitch: sa)).first ?? first)
                }
                switchLinks = (q(minimal) + 1) * minimal.count <= (q(valiant) + 1) * valiant.count ? minimal : valiant
            }
        default:
            switchLinks = minimalSwitchPath(from: sa, to: sb, hash: hash, destination: b)
        }
        let first = n.adjacency[a].first { $0.node == n.node(ofSwitch: sa) }!.link
        let last = n.adjacency[b].first { $0.node == n.node(ofSwitch: sb) }!.link
        return [n.channel(first, from: a)] + channels(switchLinks, start: n.node(ofSwitch: sa)) + [n.channel(last, from: n.node(ofSwitch: sb))]
    }

    /// Valiant: minimal to a router of a random other group, then minimal to the destination.
    private func valiantPath(from s: Int, to t: Int, hash: UInt64) -> [Int] {
        let n = network
        guard !n.coordinates.isEmpty else { return minimalSwitchPath(from: s, to: t, hash: hash) }
        let groups = (n.coordinates.map { $0[0] }.max() ?? 0) + 1
        let gs = n.coordinates[s][0], gt = n.coordinates[t][0]
        guard groups > 2 else { return minimalSwitchPath(from: s, to: t, hash: hash) }
        var middle = Int((hash >> 17) % UInt64(groups))
        while middle == gs || middle == gt { middle = (middle + 1) % groups }
        let inGroup = n.coordinates.indices.filter { n.coordinates[$0][0] == middle }
        let via = inGroup[Int((hash >> 40) % UInt64(inGroup.count))]
        return minimalSwitchPath(from: s, to: via, hash: hash) + minimalSwitchPath(from: via, to: t, hash: hash >> 3)
    }

    /// Turns a chain of links starting at node `start` into directed channels.
    private func channels(_ links: [Int], start: Int) -> [Int] {
        var at = start
        return links.map { link in
            let c = network.channel(link, from: at)
            at = network.links[link].a == at ? network.links[link].b : network.links[link].a
            return c
        }
    }

    /// Human-readable route: node names along the path.
    public func describe(from a: Int, to b: Int) -> [String] {
        let n = network
        var names = [n.endpointNames[a]]
        var at = a
        for c in route(from: a, to: b) {
            let l = n.links[c / 2]
            at = l.a == at ? l.b : l.a
            names.append(at < n.endpoints ? n.endpointNames[at] : n.switchNames[at - n.endpoints])
        }
        return names
    }
}
